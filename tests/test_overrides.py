"""Hydra's own errors keep the promise: a bad override or option is one line ``error: ...`` and exit 2 (run, sweep,
``prompts``, ``prepare``), never Hydra's multi-line message; every subcommand answers ``--help``."""

from __future__ import annotations

import pytest
from hydra._internal.utils import get_args_parser

from awaker_eval import cli
from awaker_eval.overrides import HYDRA_FLAGS, UNSUPPORTED_FLAGS, hydra_args, unmask
from awaker_eval.redact import set_secret_patterns

UNKNOWN_BATCHSIZE = ("unknown config key runner.batchsize (did you mean runner.batch_size?): not in the schema "
                     "(awaker_eval/config/schema.py); `python -m awaker_eval --cfg job` lists every key")
BAD_LIMIT = "bad value for benchmark.limit: Value 'abc' of type 'str' could not be converted to Integer"
LIMIT_HINT = ("unknown option --limit: settings are key=value overrides, e.g. benchmark.limit={} (awaker-eval run "
              "--help lists the common ones)")
BAD_GRAMMAR = ("cannot parse override 'benchmark.limit=[1': no viable alternative at input '[1' (quote a value with "
               "special characters: key='value'; syntax: https://hydra.cc/docs/advanced/override_grammar/basic/)")


@pytest.fixture(autouse=True)
def _no_patterns_left():
    yield
    set_secret_patterns([])


def _run(capsys, argv: list[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("argv, message", [
    (["runner.batchsize=4"], UNKNOWN_BATCHSIZE),
    (["+runner.batchsize=4"], UNKNOWN_BATCHSIZE),
    (["++runner.batchsize=4"], UNKNOWN_BATCHSIZE),
    (["+runner.batchsize=4", "+model.pth=x"],
     "unknown config keys model.pth (did you mean model.path?), runner.batchsize (did you mean runner.batch_size?): "
     "not in the schema (awaker_eval/config/schema.py); `python -m awaker_eval --cfg job` lists every key"),
    (["benchmark.limit=abc"], BAD_LIMIT),
    (["runner.resume=maybe"], "bad value for runner.resume: Value 'maybe' is not a valid bool (type str)"),
    (["model.seed=null"], "bad value for model.seed: field 'model.seed' is not Optional"),
    (["benchmark.limit=[1"], BAD_GRAMMAR),
    (["--limit", "5"], LIMIT_HINT.format("N")),
    (["--limit=5"], LIMIT_HINT.format("5")),
    (["--batch-size", "3"], "unknown option --batch-size: settings are key=value overrides, e.g. runner.batch_size=N "
                            "(awaker-eval run --help lists the common ones)"),
    (["--cache-dir=/c"], "unknown option --cache-dir: settings are key=value overrides, e.g. benchmark.cache_dir=/c "
                         "or model.cache_dir=/c (awaker-eval run --help lists the common ones)"),
    (["--frobnicate"], "unknown option --frobnicate: settings are key=value overrides (awaker-eval run --help lists "
                       "the common ones)"),
    (["model.seed=0,1"], "model.seed=0,1 is a sweep: add -m to run one job per value (a list is model.seed=[a,b], a "
                         "string with commas model.seed='a,b')"),
    (["-m", "model.seed=0,abc"], "bad value for model.seed: Value 'abc' of type 'str' could not be converted to "
                                 "Integer"),
    (["-m", "runner.batchsize=1,2"], UNKNOWN_BATCHSIZE),
    (["-m", "model.seed=interval(0,1)"], "model.seed=interval(0,1): Can only enumerate CHOICE and RANGE sweeps, type "
                                         "is ValueType.INTERVAL_SWEEP (the basic sweeper takes a,b / choice() / "
                                         "range() / glob())"),
    (["hydra.foo=1"], "unknown Hydra setting hydra.foo: `python -m awaker_eval --cfg hydra` lists them"),
    (["--cfg", "bogus"], "option --cfg takes one of job, hydra, all (got 'bogus')"),
    (["--cfg"], "option --cfg needs a value"),
    (["-m", "--cfg", "job"], "options --multirun and --cfg cannot be combined: Hydra takes one of --run, --multirun, "
                             "--cfg, --info and --shell-completion"),
    (["--info=bogus"], "option --info takes one of all, config, defaults, defaults-tree, plugins, searchpath (got "
                       "'bogus')"),
    (["model.secret_patterns=['[0-9]{4}']", "benchmark.limit=1234"],
     "cannot hide the secret in override 'benchmark.limit=***' from Hydra's logs: quote the whole value "
     "(key='value') and make model.secret_patterns match inside strings only"),
    (["--config-path", "x"], "option --config-path is not supported: it replaces conf/; add your own config folder "
                             "with --config-dir DIR instead"),
    (["model.secret_patterns=['(']"], "model.secret_patterns[0] is not a valid regular expression (missing ), "
                                      "unterminated subpattern at position 0)"),
    (["model.secret_patterns=['x','[0-9]*']"], "model.secret_patterns[1] matches the empty string: make it match "
                                               "the secret itself (+ rather than * or ?), e.g. 'tenant-[0-9]+'"),
])
def test_override_errors_are_one_line_exit_2(capsys, tmp_path, argv, message):
    code, out, err = _run(capsys, [f"results_root={tmp_path}/results", *argv])
    assert (code, out, err) == (2, "", f"error: {message}\n")
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("command, prefix", [("prompts", "awaker-eval prompts: error: "), ("prepare", "error: ")])
@pytest.mark.parametrize("argv, message", [
    (["runner.batchsize=4"], UNKNOWN_BATCHSIZE),
    (["+runner.batchsize=4"], UNKNOWN_BATCHSIZE),
    (["benchmark.limit=abc"], BAD_LIMIT),
    (["benchmark.limit=[1"], BAD_GRAMMAR),
    (["--limit", "5"], LIMIT_HINT.format("N")),
    (["-m", "model.seed=0,1"], "unknown option -m: settings are key=value overrides (awaker-eval run --help lists "
                               "the common ones)"),
])
def test_subcommand_override_errors_are_one_line_exit_2(capsys, command, prefix, argv, message):
    assert _run(capsys, [command, *argv]) == (2, "", f"{prefix}{message}\n")


def test_every_subcommand_has_a_working_help(capsys):
    for name in cli.COMMANDS:
        for flag in ("--help", "-h"):
            try:
                code = cli.main([name, flag])
            except SystemExit as stop:  # argparse's own --help
                code = stop.code
            out = capsys.readouterr()
            assert (code, out.err) == (0, ""), (name, flag)
            assert out.out.startswith(f"usage: awaker-eval {name} "), (name, flag)


def test_the_option_table_is_hydras():
    hydra_options = {s for action in get_args_parser()._actions for s in action.option_strings}
    assert hydra_options - {"-h", "--help"} == set(HYDRA_FLAGS) | set(UNSUPPORTED_FLAGS)


def test_secrets_reach_hydra_masked_and_the_task_unmasked():
    argv = ["-m", "model=openai_api", "model.base_url='http://h:1/sk-live-abcd1234/v1?api_key=QSECRET99',"
            "'http://g:2/v1'", "model.api_model=m", "model.seed=0,1"]
    args = hydra_args(argv)
    assert args.argv == ["-m", "model=openai_api", "model.base_url='http://h:1/***/v1?api_key=***','http://g:2/v1'",
                         "model.api_model=m", "model.seed=0,1"]
    assert args.secrets == {"http://h:1/***/v1?api_key=***": "http://h:1/sk-live-abcd1234/v1?api_key=QSECRET99"}
    assert unmask({"u": ["http://h:1/***/v1?api_key=***", "x"]}, args.secrets) == {
        "u": ["http://h:1/sk-live-abcd1234/v1?api_key=QSECRET99", "x"]}


def test_values_that_differ_only_in_their_secret_are_refused(capsys):
    code, out, err = _run(capsys, ["-m", "model=openai_api", "model.api_model=m",
                                   "model.base_url='http://h/v1?key=AAAAAAA1','http://h/v1?key=AAAAAAA2'"])
    assert (code, out, err) == (2, "", "error: two values differ only in their secrets, both http://h/v1?key=*** once "
                                       "masked: run them as separate commands, so their folders and logs stay "
                                       "apart\n")
