"""The command line tells the truth: version, run help, unknown levels, broken pipes, aliases, empty groups,
what differs between runs, the agreement line, shard permissions and an unreachable hub."""

from __future__ import annotations

import io
import re
import stat
import time

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from awaker_eval import __version__, cli
from awaker_eval.app import CONF_DIR
from awaker_eval.config.schema import ModelConfig, RunConfig, register_configs
from awaker_eval.models import hub_access
from awaker_eval.models.loading import CheckpointNotFound, resolve_checkpoint
from awaker_eval.preflight import preflight
from awaker_eval.report import plots_cli
from awaker_eval.report.compare import MismatchError, common_units
from awaker_eval.report.differences import describe_difference
from awaker_eval.report.leaderboard import render_leaderboard
from awaker_eval.report.runs import load_run
from awaker_eval.rundir import default_run_id
from awaker_eval.run_outputs import agreement_line
from awaker_eval.score import score_predictions
from awaker_eval.tasks.mme_realworld.render import render
from awaker_eval.tasks.registry import catalogue, get_benchmark
from test_report_support import mme_predictions, write_run


def _compose(*overrides: str) -> RunConfig:
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return OmegaConf.to_object(compose("config", overrides=list(overrides)))


def test_version_names_package_and_commit(capsys):
    assert cli.main(["--version"]) == 0
    assert re.fullmatch(rf"awaker-eval {re.escape(__version__)} \(git [0-9a-f]{{12}}(, with uncommitted changes)?\)\n",
                        capsys.readouterr().out)


def test_run_help_lists_our_groups_not_hydras(capsys):
    assert cli.main(["run", "--help"]) == 0
    out = capsys.readouterr().out
    assert "  model=  awaker2_5_vl | awaker_tiny | openai_api | qwen2_vl | tiny" in out
    assert "  runner=  choice | default | gpu" in out and "  preset=  awaker_readme | lmms_eval | vlmevalkit" in out
    assert "model.adapter=DIR" in out and "benchmark.limit=N" in out and "Powered by Hydra" not in out


def test_unknown_benchmark_is_one_line_and_exit_2(capsys):
    assert cli.main(["benchmark=bogus", "model=tiny"]) == 2
    assert capsys.readouterr().err == ("error: benchmark='bogus' is unknown: Could not find 'benchmark/bogus'. "
                                       "Available options in 'benchmark': ai2d, mcq, mmbench, mmbench_cn, mme_realworld, "
                                       "mme_realworld_cn, mme_realworld_lite, mme_realworld_sample, mmstar "
                                       "(conf/benchmark/)\n")
    assert cli.main(["-m", "model=tiny,tiny2"]) == 2 and "model='tiny2' is unknown" in capsys.readouterr().err


def test_plot_unknown_level_is_an_error(tmp_path, capsys):
    run = write_run(tmp_path / "run", mme_predictions(n_per_subtask=3, n_reasoning=3), n_boot=20)
    assert plots_cli.main([str(run), "--level", "bogus"]) == 2
    assert capsys.readouterr().err == ("error: unknown --level 'bogus': choose from category, split, subtask\n")
    assert not (run / "plots").exists()


def test_broken_pipe_ends_quietly(tmp_path, monkeypatch, capsys):
    run = write_run(tmp_path / "run", mme_predictions(n_per_subtask=3, n_reasoning=3), n_boot=20)

    class ClosedPipe(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr("sys.stdout", ClosedPipe())
    assert cli.main(["score", str(run / "predictions.jsonl"), "--benchmark", "mme_realworld"]) == 0


def test_protocol_aliases_are_one_protocol():
    official, alias = _compose(), _compose("benchmark.protocol=vlmevalkit")
    preflight(alias)
    assert alias.benchmark.protocol == "official" and default_run_id(alias) == default_run_id(official)
    mmb = _compose("benchmark=mmbench", "benchmark.protocol=vlmevalkit_qwen2vl")
    preflight(mmb)
    assert mmb.benchmark.protocol == "official"  # MMBench official = the VLMEvalKit Qwen2-VL prompt
    note = render_leaderboard({"overall": 0.5, "n": 40}, "x", alias.benchmark, get_benchmark("mme_realworld"))
    assert "differ from the official ones" not in note


def test_empty_groups_print_a_dash():
    preds = [p for p in mme_predictions(n_per_subtask=2, n_reasoning=4) if p.task == "Reasoning"]
    metrics = score_predictions(get_benchmark("mme_realworld"), preds)
    text = render("mme_realworld", metrics)
    assert re.search(r"^Perception\s+-\s+0$", text, re.M) and re.search(r"^Perception\s+Remote Sensing\s+-\s+0", text, re.M)
    assert re.search(r"^Reasoning\s+\d+\.\d\d\s+4$", text, re.M)
    table = render_leaderboard({**metrics, "ci": {}}, "ours", {"name": "mme_realworld", "kind": "mme_realworld"},
                               get_benchmark("mme_realworld"))
    assert "| ours ★ | - | this run | 50.0 | - | **50.00** | - |" in table  # no Perception item: "-", not 0.00


def test_compare_names_what_differs_in_words(tmp_path):
    preds = mme_predictions(n_per_subtask=3, n_reasoning=3)
    base = load_run(write_run(tmp_path / "gen", preds, n_boot=20), catalogue())
    choice = write_run(tmp_path / "choice", [p.__class__(**{**p.__dict__, "protocol_fp": "other"}) for p in preds],
                       n_boot=20, max_pixels=1000)
    new = load_run(choice, catalogue())
    new.config["runner"] = {"mode": "choice"}
    new.config["model"] = {**new.config.get("model", {}), "adapter": "/ft/lora"}
    with pytest.raises(MismatchError) as err:
        common_units(base, new)
    lines = str(err.value).splitlines()
    assert lines[1] == ("  inference mode differs: base uses greedy generation (generate), new uses scoring each "
                        "option's likelihood (choice)")
    assert "  image resolution differs: base default..1003520 px, new default..1000 px" in lines
    assert lines.index("  benchmark.max_pixels: 1003520 vs 1000") > 3  # the raw keys follow the words
    assert "  PEFT adapter differs: base None, new '/ft/lora'" in lines
    assert describe_difference(base.config, base.config) == []


def test_agreement_line_says_what_it_measures_and_warns_on_a_random_model():
    agreement = {"agree": 0, "compared": 40, "other_run": "results/x/choice"}
    line = agreement_line(agreement, ModelConfig(kind="tiny"))
    assert line.startswith("choice vs generate: 0/40 samples get the same letter from greedy generation and from "
                           "scoring each option's likelihood (other run: results/x/choice)")
    assert "warning: the model is a random tiny one" in line
    assert "warning" not in agreement_line(agreement, ModelConfig(kind="qwen2_vl", path="/m"))


def test_converted_shards_are_world_readable(tmp_path):
    from awaker_eval.models.awaker.convert import convert

    torch.save({"model.embed_tokens.weight": torch.zeros(4, 2)}, tmp_path / "pytorch_model.bin")
    convert(tmp_path / "pytorch_model.bin", tmp_path / "out")
    shards = list((tmp_path / "out").glob("*.safetensors"))
    assert shards and all(stat.S_IMODE(s.stat().st_mode) == 0o644 for s in shards)


def test_unreachable_hub_fails_fast_with_one_message(monkeypatch, capsys):
    from huggingface_hub import constants

    hub_access.hub_reachable.cache_clear()
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens: refused at once
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    start = time.perf_counter()
    with pytest.raises(CheckpointNotFound, match=r"`hf download org/not-cached-model`"):
        resolve_checkpoint("org/not-cached-model", allow_patterns=["config.json"])
    assert time.perf_counter() - start < 5 and constants.HF_HUB_OFFLINE is True  # offline for the rest
    assert capsys.readouterr().out == ""
    hub_access.hub_reachable.cache_clear()
