"""``awaker-eval compare``: the paired comparison and the CI gate on synthetic run directories."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from awaker_eval.report import compare_cli
from awaker_eval.engine.store import prediction_to_json
from awaker_eval.types import Prediction
from test_report_support import flip, mmbench_predictions, mme_predictions, write_run


def _ids(preds, task: str, correct: bool, n: int, seed: int = 0) -> set[str]:
    pool = sorted(p.id for p in preds if p.task == task and bool(p.correct) == correct)
    return set(np.random.default_rng(seed).choice(pool, size=n, replace=False))


@pytest.fixture
def planted(tmp_path):
    """Base run; new run = base with 15 symmetric Perception flips each way + a 5-point Reasoning drop."""
    base = mme_predictions(n_per_subtask=300, n_reasoning=600)
    new = flip(base, _ids(base, "Perception", True, 15, 1), to_correct=False)
    new = flip(new, _ids(base, "Perception", False, 15, 2), to_correct=True)
    new = flip(new, _ids(base, "Reasoning", True, 30, 3), to_correct=False)  # 30 / 600 = 5 points
    return write_run(tmp_path / "base", base), write_run(tmp_path / "new", new)


def test_planted_subtask_drop_fails_the_gate_and_is_named(planted, tmp_path, capsys):
    base, new = planted
    rc = compare_cli.main([str(base), str(new), "--max-drop", "2", "--out", str(tmp_path / "cmp")])
    out = capsys.readouterr().out
    assert rc == 1
    last = out.strip().splitlines()
    assert last[-2].startswith("GATE FAILED") and "Reasoning -5.00 pts" in last[-2]
    assert "Reasoning/Monitoring -5.00" in last[-1]
    assert "Perception" not in last[-2]
    header = next(line for line in last if line.startswith("| level"))
    assert [c.strip() for c in header.strip("|").split("|")][-3:] == ["broken", "fixed", "gate"]  # every column named
    row = next(line for line in last if line.startswith("| split") and "Reasoning" in line)
    assert row.rstrip(" |").endswith("FAIL")
    table = pd.read_csv(tmp_path / "cmp" / "compare.csv").set_index("group")
    assert table.loc["Reasoning/Monitoring", "diff"] == pytest.approx(-0.05)
    assert table.loc["Reasoning", "broken"] == 30 and table.loc["Reasoning", "fixed"] == 0
    assert table.loc["Perception", "diff"] == pytest.approx(0.0)
    assert table.loc["Perception", "broken"] == 15 and table.loc["Perception", "fixed"] == 15
    assert table.loc["Perception", "p_mcnemar"] == pytest.approx(1.0)
    assert table.loc["Reasoning", "p_mcnemar"] == pytest.approx(2 * 0.5**30)
    assert table.loc["Reasoning", "hi"] < 0 < table.loc["Perception", "hi"]
    flips = pd.read_csv(tmp_path / "cmp" / "flips.csv")
    assert (flips["change"] == "broken").sum() == 45 and (flips["change"] == "fixed").sum() == 15


def test_drop_within_tolerance_passes(planted, capsys):
    base, new = planted
    assert compare_cli.main([str(base), str(new), "--max-drop", "6"]) == 0
    out = capsys.readouterr().out
    assert "GATE PASSED" in out and "Significant drops elsewhere: Reasoning -5.00" in out


def test_identical_pair_exits_zero(tmp_path, capsys):
    preds = mme_predictions(n_per_subtask=50, n_reasoning=50)
    a, b = write_run(tmp_path / "a", preds), write_run(tmp_path / "b", preds)
    assert compare_cli.main([str(a), str(b), "--max-drop", "0", "--n-boot", "100"]) == 0
    out = capsys.readouterr().out
    assert "GATE PASSED" in out and "broken (0)" in out and "fixed (0)" in out


def test_sweep_directory_with_two_jobs(planted, tmp_path, capsys):
    base, new = planted
    sweep = tmp_path / "results" / "sweeps" / "20260101-000000"  # Hydra: <sweep dir>/<job number>
    shutil.copytree(base, sweep / "0")
    shutil.copytree(new, sweep / "1")
    assert compare_cli.main([str(sweep), "--max-drop", "2", "--n-boot", "200"]) == 1
    assert f"base: {sweep / '0'}" in capsys.readouterr().out
    assert compare_cli.main([str(tmp_path / "results")]) == 1  # a results root holding exactly the two jobs


def test_different_sample_sets_refused_unless_allowed(tmp_path, capsys):
    preds = mme_predictions(n_per_subtask=40, n_reasoning=40)
    a = write_run(tmp_path / "a", preds)
    b = write_run(tmp_path / "b", preds[:-5])
    assert compare_cli.main([str(a), str(b)]) == 2
    err = capsys.readouterr().err
    assert "different sample sets" in err and "5 only in base" in err and "--allow-mismatch" in err
    assert compare_cli.main([str(a), str(b), "--allow-mismatch", "--n-boot", "100"]) == 0
    assert "units matched: 195" in capsys.readouterr().out


def test_different_protocol_refused(tmp_path, capsys):
    preds = mme_predictions(n_per_subtask=20, n_reasoning=20)
    a = write_run(tmp_path / "a", preds)
    b = write_run(tmp_path / "b", preds, max_pixels=12_845_056)
    assert compare_cli.main([str(a), str(b)]) == 2
    assert "benchmark.max_pixels: 1003520 vs 12845056" in capsys.readouterr().err


def test_mmbench_compares_circular_questions(tmp_path, capsys):
    base = mmbench_predictions(n_questions=300, acc=0.95)
    hits = {}
    for p in base:
        hits.setdefault(p.group, []).append(p.correct)
    good = sorted((g for g, v in hits.items() if all(v)), key=int)[:40]
    new = flip(base, {str(int(g) + 1_000_000) for g in good}, to_correct=False)  # break one pass of 40 questions
    a, b = write_run(tmp_path / "a", base, kind="mmbench", name="mmbench"), write_run(
        tmp_path / "b", new, kind="mmbench", name="mmbench")
    assert compare_cli.main([str(a), str(b), "--max-drop", "5", "--out", str(tmp_path / "o")]) == 1
    table = pd.read_csv(tmp_path / "o" / "compare.csv").set_index("group")
    assert table.loc["Overall", "n"] == 300 and table.loc["Overall", "broken"] == 40
    assert table.loc["Overall", "diff"] == pytest.approx(-40 / 300)
    assert set(table.index) >= {"CP", "FP-S", "FP-C", "AR", "RR", "LR"}


def test_run_without_ground_truth_is_refused(tmp_path, capsys):
    preds = mme_predictions(n_per_subtask=10, n_reasoning=10)
    a = write_run(tmp_path / "a", preds)
    hidden = [Prediction(**{**p.__dict__, "answer": None, "correct": None}) for p in preds]
    b = write_run(tmp_path / "b", preds)
    (b / "scores.json").write_text('{"overall": null, "n": 60}')
    (b / "predictions.jsonl").write_text("".join(prediction_to_json(p) + "\n" for p in hidden))
    assert compare_cli.main([str(a), str(b)]) == 2
    assert "has no score (hidden answers" in capsys.readouterr().err
