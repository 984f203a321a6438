"""The Python API (``awaker_eval.evaluate`` / ``awaker_eval.compare``): README's example runs as written, results
equal the command line's, user errors are exceptions (never SystemExit), ``import awaker_eval`` stays light."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO
from test_report_support import flip, mme_predictions, write_run

import awaker_eval
from awaker_eval import cli
from awaker_eval.overrides import OverrideError
from awaker_eval.preflight import ConfigError

PYTHON_FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def readme_python_blocks() -> list[str]:
    return PYTHON_FENCE.findall((REPO / "README.md").read_text(encoding="utf-8"))


def test_import_is_light_and_the_api_is_found_on_first_use():
    code = ("import sys, awaker_eval; heavy = [m for m in ('torch', 'transformers', 'hydra', 'pandas') "
            "if m in sys.modules]; assert heavy == [], heavy; "
            "print(awaker_eval.evaluate.__module__, awaker_eval.compare.__module__, 'evaluate' in dir(awaker_eval))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["awaker_eval.api", "awaker_eval.api", "True"]
    with pytest.raises(AttributeError, match="no attribute 'evaluat'"):
        awaker_eval.evaluat  # noqa: B018


@pytest.mark.parametrize("overrides, error, message", [
    (["runner.batchsize=4"], OverrideError, "unknown config key runner.batchsize (did you mean runner.batch_size?)"),
    (["model.seed=0,1"], OverrideError, "model.seed=0,1 is a sweep: evaluate takes one value per key"),
    (["benchmark.limit=0"], ConfigError, "benchmark.limit=0 is out of range: it must be >= 1 or null"),
    ("benchmark.limit=2", TypeError, "overrides must be a list of 'key=value' strings"),
])
def test_user_errors_are_exceptions_not_exits(tmp_path, monkeypatch, overrides, error, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(error) as caught:
        awaker_eval.evaluate(overrides=overrides)
    assert str(caught.value).startswith(message)
    assert not (tmp_path / "results").exists()  # refused before anything was written


def test_compare_equals_the_gate_and_prints_nothing(tmp_path, capsys):
    base = mme_predictions(n_per_subtask=100, n_reasoning=300)
    pool = sorted(p.id for p in base if p.task == "Reasoning" and p.correct)
    drop = set(np.random.default_rng(0).choice(pool, size=30, replace=False))  # 10 points of Reasoning
    base_dir, new_dir = write_run(tmp_path / "base", base), write_run(tmp_path / "new", flip(base, drop, False))
    capsys.readouterr()
    result = awaker_eval.compare(base_dir, new_dir, max_drop=2, n_boot=200)
    assert capsys.readouterr() == ("", "")
    assert (result.verdict, result.exit_status, result.units_matched) == ("FAILED", 1, 700)
    row = result.table.set_index("group").loc["Reasoning"]
    assert (row["n"], row["broken"], row["fixed"]) == (300, 30, 0) and row["diff"] == pytest.approx(-0.1)
    assert result.gate_status[result.table["group"] == "Reasoning"].tolist() == ["FAIL"]
    assert sorted(result.flips["unit"]) == sorted(drop)
    assert cli.main(["compare", str(base_dir), str(new_dir), "--max-drop", "2", "--n-boot", "200"]) == 1
    assert capsys.readouterr().out.strip().splitlines()[-2] == result.verdict_line
    with pytest.raises(FileNotFoundError, match="no such directory"):
        awaker_eval.compare(base_dir, tmp_path / "missing")
    with pytest.raises(ValueError, match="--max-drop must be a finite number"):
        awaker_eval.compare(base_dir, new_dir, max_drop=float("nan"))
    with pytest.raises(ValueError, match="gate level 'everything' is unknown"):
        awaker_eval.compare(base_dir, new_dir, gate_level="everything")


@pytest.mark.slow
def test_readme_python_example_runs_as_written(tmp_path, tiny_cache_dir):
    """The README block in a fresh interpreter (its default cache: the session's tiny model), then its numbers
    checked against the files and the command line's gate on the same runs."""
    (block,) = readme_python_blocks()
    home = tmp_path / "home"
    (home / ".cache").mkdir(parents=True)
    (home / ".cache" / "awaker_eval").symlink_to(tiny_cache_dir)
    env = dict(os.environ, HOME=str(home), PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1")
    out = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    run_line = next(line for line in lines if line.startswith("results/mme_realworld_sample/tiny/run-"))
    run_dir, overall = run_line.split()[:2]
    scores = json.loads((tmp_path / run_dir / "scores.json").read_text())
    assert float(overall) == scores["overall"] and run_line.endswith(str(scores["ci"]["overall"]))
    runs = sorted((tmp_path / "results" / "mme_realworld_sample" / "tiny").iterdir())
    assert len(runs) == 2
    verdict = next(line for line in lines if line.split()[:1] in (["PASSED"], ["FAILED"], ["INCONCLUSIVE"]))
    gate = subprocess.run([sys.executable, "-m", "awaker_eval", "compare", run_dir,
                           *[str(r.relative_to(tmp_path)) for r in runs if str(r.relative_to(tmp_path)) != run_dir],
                           "--max-drop", "100"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert verdict == f"PASSED {gate.returncode}" == "PASSED 0"
