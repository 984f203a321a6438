"""``awaker-eval export-submission`` is core: it asks the run's benchmark for its submission writer, and refuses a
benchmark that has none in one line, exit 2. The MMBench file is the one the MMBench writer makes."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from awaker_eval.cli import main as cli_main
from awaker_eval.tasks.mmbench.submission import main as mmbench_export
from awaker_eval.tasks.registry import catalogue, get_benchmark
from test_report_support import mme_predictions, write_run
from test_score_mmbench import _predictions, synthetic  # noqa: F401  (fixture)


def _mmbench_test_run(root, rows):
    run = root / "mmbench_test" / "awaker" / "run-1"
    run.mkdir(parents=True)
    preds = _predictions([dict(r, answer=None) for r in rows])
    (run / "predictions.jsonl").write_text("".join(json.dumps(p.__dict__) + "\n" for p in preds))
    (run / "config.yaml").write_text("benchmark:\n  kind: mmbench\n  language: en\n  version: v11\n  split: test\n"
                                     "model:\n  name: awaker\n")
    return run


def test_mmbench_through_the_core_command_is_the_mmbench_file(synthetic, tmp_path, capsys):
    run = _mmbench_test_run(tmp_path, synthetic["rows"])
    assert cli_main(["export-submission", str(run), "--out", str(tmp_path / "core.xlsx")]) == 0
    assert mmbench_export([str(run), "--out", str(tmp_path / "direct.xlsx")], get_benchmark("mmbench"),
                          list(catalogue().values())) == 0
    core, direct = pd.read_excel(tmp_path / "core.xlsx"), pd.read_excel(tmp_path / "direct.xlsx")
    pd.testing.assert_frame_equal(core, direct)
    assert len(core) == len(synthetic["rows"])
    assert cli_main(["export-submission", str(run), "--benchmark", "mmbench"]) == 0
    assert (run / "awaker_MMBench_TEST_EN_V11.xlsx").is_file()


def test_benchmark_without_submission_is_refused(tmp_path, capsys):
    run = write_run(tmp_path / "mme", mme_predictions(n_per_subtask=2, n_reasoning=2))
    assert cli_main(["export-submission", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["awaker-eval export-submission: error: benchmark 'mme_realworld' has no server submission (its "
                   "runs are scored locally); export-submission writes one for: mmbench"]
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml", "predictions.jsonl", "run.json", "scores.json"]


def test_benchmark_is_named_or_found(tmp_path, capsys):
    bare = tmp_path / "bare"
    bare.mkdir()
    assert cli_main(["export-submission", str(bare)]) == 2
    assert capsys.readouterr().err.strip() == (f"awaker-eval export-submission: error: {bare}: no config.yaml naming "
                                               "the benchmark: pass --benchmark (mmbench)")
    assert cli_main(["export-submission", str(bare), "--benchmark", "mcq"]) == 2
    assert "benchmark 'mcq' has no server submission" in capsys.readouterr().err
    assert cli_main(["export-submission", str(bare), "--benchmark", "nope"]) == 2
    assert "unknown benchmark kind 'nope'; registered: " in capsys.readouterr().err
    run = write_run(tmp_path / "mme", mme_predictions(n_per_subtask=2, n_reasoning=2))
    assert cli_main(["export-submission", str(run), "--benchmark", "mmbench"]) == 2
    assert capsys.readouterr().err.strip() == (f"awaker-eval export-submission: error: {run / 'config.yaml'}: "
                                               "benchmark kind is 'mme_realworld', not --benchmark 'mmbench'")


def test_help_lists_the_benchmarks_with_a_submission(capsys):
    assert cli_main(["export-submission", "--help"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "benchmarks with a submission: mmbench"


def test_perf_asks_the_benchmark_for_its_workload(capsys, tmp_path):
    """``perf`` names no benchmark: a kind without a synthetic workload is refused before the model; an unknown
    kind, a bad option and ``--help`` before torch loads."""
    import os
    import subprocess
    import sys

    from awaker_eval import perf, perf_cli
    from awaker_eval.tasks.registry import get_benchmark

    assert perf_cli.main(["--benchmark", "mcq", "--cache-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == ("awaker-eval perf: error: benchmark 'mcq' has no synthetic workload "
                                               "for perf")
    assert perf_cli.main(["--benchmark", "nope", "--cache-dir", str(tmp_path)]) == 2
    assert "unknown benchmark kind 'nope'; registered: " in capsys.readouterr().err
    assert perf_cli.parse_args([]).benchmark == "mme_realworld"  # the schema's default: the demo's benchmark
    samples = perf.load_benchmark(get_benchmark("mme_realworld"), tmp_path, 3, (60, 80))
    assert len(samples) == 3 and list(tmp_path.iterdir()) == [tmp_path / "perf_data"]
    light = ("import sys\nfrom awaker_eval import cli\ncodes = []\n"
             "for c in ('perf', 'verify-golden', 'convert-checkpoint'):\n"
             "    try:\n        codes.append(cli.main([c, '--help']))\n"
             "    except SystemExit as exc:\n        codes.append(exc.code)\n"
             "heavy = [m for m in ('torch', 'transformers') if m in sys.modules]\n"
             "assert heavy == [], heavy\nprint(codes)")
    repo = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", light], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=str(repo)))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[0, 0, 0]"
