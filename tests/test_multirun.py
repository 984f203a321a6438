"""Hydra multirun: each job gets its own run directory under the sweep dir; `table` and `compare` read the sweep."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from awaker_eval.report import compare_cli, table_cli
from awaker_eval.run_outputs import result_line
from awaker_eval.sweep_dirs import job_key, sweep_job_overrides, sweep_key


def test_sweep_over_models_then_table_and_compare(tmp_path, tiny_cache_dir, capsys):
    cmd = [sys.executable, "-m", "awaker_eval", "-m", "model.seed=0,1", "benchmark.limit=6",
           f"benchmark.cache_dir={tmp_path / 'data'}", f"model.cache_dir={tiny_cache_dir}",
           f"results_root={tmp_path / 'results'}", "runner.progress=false", "runner.bootstrap_samples=50"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert out.returncode == 0, out.stderr[-2000:]
    sweeps = list((tmp_path / "results" / "sweeps").iterdir())
    assert len(sweeps) == 1 and sweeps[0].name.startswith("model.seed=0,1__benchmark.limit=6__")  # not the clock
    jobs = sorted(p for p in sweeps[0].iterdir() if p.is_dir())
    assert [p.name for p in jobs] == ["0_model.seed=0", "1_model.seed=1"]  # named after the swept value
    seeds = []
    for job in jobs:
        assert (job / "scores.json").is_file() and (job / "predictions.jsonl").is_file()
        seeds.append(json.loads((job / "run.json").read_text())["config"]["model"]["seed"])
        assert len((job / "predictions.jsonl").read_text().splitlines()) == 6
    assert seeds == [0, 1]
    lines = out.stdout.splitlines()  # one result line per job, one leaderboard at the sweep's end
    scores = [json.loads((job / "scores.json").read_text()) for job in jobs]
    assert [line for line in lines if line.startswith("tiny (model.seed=")][:2] == [
        f"tiny (model.seed={i}): Overall {100 * s['overall']:.1f} [{100 * s['ci']['overall'][0]:.1f}, "
        f"{100 * s['ci']['overall'][1]:.1f}], n=6" for i, s in enumerate(scores)]
    assert lines.count("### MME-RealWorld") == 1 and lines.index("### MME-RealWorld") > 1
    assert sum(line.startswith("| tiny (model.seed=") for line in lines) == 2
    assert lines[-1] == f"sweep directory: {sweeps[0]}" and "run directory:" not in out.stdout

    assert table_cli.main([str(sweeps[0]), "--format", "csv"]) == 0
    table = capsys.readouterr().out
    assert "tiny (model.seed=0)" in table and "tiny (model.seed=1)" in table  # rows named after their overrides
    assert "Awaker2.5-VL" in table

    code = compare_cli.main([str(jobs[0]), str(jobs[1]), "--max-drop", "100"])
    assert code == 0  # different weights, same samples and protocol: comparable, and no drop can exceed 100 pts
    assert "Overall" in capsys.readouterr().out



def test_sweep_folders_are_keyed_by_overrides_not_the_clock():
    argv = ["-m", "model=tiny,awaker_tiny", "benchmark.limit=5", "model.checkpoint=/ckpt/a b.bin"]
    assert sweep_key(argv) == "model=tiny,awaker_tiny__benchmark.limit=5__model.checkpoint=-ckpt-a-b.bin"
    assert sweep_key(argv) == sweep_key(list(argv))  # the same command -> the same folder -> resume
    job = ["model=awaker_tiny", "benchmark.limit=5", "model.checkpoint=/ckpt/a b.bin"]
    assert job_key(job, argv) == "model=awaker_tiny"  # only the swept value names the job folder
    assert sweep_job_overrides("1_model=awaker_tiny") == "model=awaker_tiny"
    assert sweep_job_overrides("run-3f2a") is None and sweep_job_overrides("12") is None
    long = sweep_key(["x=" + "a" * 200])
    assert len(long) == 96 and long != sweep_key(["x=" + "a" * 199 + "b"])  # cut, but still unique


def test_a_sweep_jobs_result_line():
    scores = {"overall": 0.25, "ci": {"overall": [0.0, 1.0]}, "n": 4}
    assert result_line("tiny (model.seed=1)", scores) == "tiny (model.seed=1): Overall 25.0 [0.0, 100.0], n=4"
    assert result_line("m", {"overall": 0.5, "n_questions": 10}) == "m: Overall 50.0, n=10"
    assert result_line("m", {"overall": None}) == "m: no score (hidden answers)"
