"""``awaker-eval compare``: the paired comparison and the CI gate on synthetic run directories."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from awaker_eval import cli
from awaker_eval.report import compare_cli, html_cli
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
    assert compare_cli.main([str(a), str(b), "--max-drop", "12", "--n-boot", "100"]) == 0
    out = capsys.readouterr().out
    assert "GATE PASSED" in out and "broken (0)" in out and "fixed (0)" in out


def test_zero_allowance_is_inconclusive_at_any_n(tmp_path, capsys):
    """--max-drop 0 once passed identical runs; no n can see every drop above 0 (6 units at the least)."""
    preds = mme_predictions(n_per_subtask=50, n_reasoning=50)
    a, b = write_run(tmp_path / "a", preds), write_run(tmp_path / "b", preds)
    assert compare_cli.main([str(a), str(b), "--max-drop", "0", "--n-boot", "100"]) == 3
    assert capsys.readouterr().out.strip().splitlines()[-1] == (
        "GATE INCONCLUSIVE (max drop 0.0 pts, alpha 0.05): too few units to detect a drop of 0.0 pts: "
        "Overall n=250 detects drops >= 2.40 pts only (no n detects a drop of 0 pts); "
        "Perception n=200 detects drops >= 3.00 pts only (no n detects a drop of 0 pts); "
        "Reasoning n=50 detects drops >= 12.00 pts only (no n detects a drop of 0 pts).")


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
    assert compare_cli.main([str(a), str(b), "--allow-mismatch", "--n-boot", "100", "--max-drop", "20"]) == 0
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


@pytest.fixture
def collapsed(tmp_path):
    """A real, significant 80-point drop: every unit right in base, 80% of each split wrong in new."""
    base = mme_predictions(n_per_subtask=50, n_reasoning=50, acc=1.0)
    broken = {p.id for p in base if p.task == "Reasoning" and int(p.id[4:]) < 240}
    broken |= {p.id for p in base if p.task == "Perception" and int(p.id[4:]) % 5 != 0}
    return write_run(tmp_path / "base", base), write_run(tmp_path / "new", flip(base, broken, to_correct=False))


BAD_GATE_OPTIONS = [
    (["--n-boot", "0"], "--n-boot must be at least 100 (got 0): fewer bootstrap resamples give no usable interval"),
    (["--max-drop", "nan"], "--max-drop must be a finite number of points >= 0 (got nan)"),
    (["--max-drop", "-1"], "--max-drop must be a finite number of points >= 0 (got -1.0)"),
    (["--alpha", "0"], "--alpha must be strictly between 0 and 1 (got 0.0): it is the significance level, "
                       "e.g. 0.05 for 95% intervals"),
    (["--alpha", "2"], "--alpha must be strictly between 0 and 1 (got 2.0): it is the significance level, "
                       "e.g. 0.05 for 95% intervals"),
]


@pytest.mark.parametrize("command", ["compare", "report"])
@pytest.mark.parametrize("option, message", BAD_GATE_OPTIONS)
def test_bad_gate_options_are_one_line_exit_2_and_write_nothing(collapsed, tmp_path, capsys, command, option,
                                                                message):
    """Each of these once let the 80-point drop pass with exit 0 (or printed inverted intervals)."""
    base, new = collapsed
    out = tmp_path / "out" / ("cmp" if command == "compare" else "comparison.html")
    assert cli.main([command, str(base), str(new), "--out", str(out), *option]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"error: {message}\n" and captured.out == ""
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["plot", "table"])
def test_other_subcommands_refuse_too_few_resamples(collapsed, tmp_path, capsys, command):
    base, _ = collapsed
    assert cli.main([command, str(base), "--n-boot", "10"]) == 2
    assert capsys.readouterr().err == (
        "error: --n-boot must be at least 100 (got 10): fewer bootstrap resamples give no usable interval\n")
    assert not (base / "plots").exists()


def test_a_real_80_point_drop_fails_the_gate(collapsed, tmp_path, capsys):
    base, new = collapsed
    assert compare_cli.main([str(base), str(new), "--out", str(tmp_path / "cmp")]) == 1
    last = capsys.readouterr().out.strip().splitlines()
    assert last[-2].startswith("GATE FAILED (max drop 1.0 pts, alpha 0.05): Overall -80.00 pts (CI [")
    assert "Perception -80.00 pts" in last[-2] and "Reasoning -80.00 pts" in last[-2]
    table = pd.read_csv(tmp_path / "cmp" / "compare.csv").set_index("group")
    assert table.loc["Overall", "broken"] == 200 and table.loc["Overall", "fixed"] == 0
    assert table.loc["Overall", "detectable"] < 0.1 and table.loc["Overall", "hi"] < -0.7


def _small_pair(tmp_path, n_per_subtask: int, n_reasoning: int):
    preds = mme_predictions(n_per_subtask=n_per_subtask, n_reasoning=n_reasoning)
    return write_run(tmp_path / "a", preds), write_run(tmp_path / "b", preds)


@pytest.mark.parametrize("n_per_subtask, n_reasoning, blind", [
    (1, 0, "Overall n=4 can detect no drop at all (about 600 units needed for 1.0 pts); "
           "Perception n=4 can detect no drop at all (about 600 units needed for 1.0 pts)."),
    (1, 4, "Overall n=8 detects drops >= 75.00 pts only (about 600 units needed for 1.0 pts); "
           "Perception n=4 can detect no drop at all (about 600 units needed for 1.0 pts); "
           "Reasoning n=4 can detect no drop at all (about 600 units needed for 1.0 pts)."),
    (3, 8, "Overall n=20 detects drops >= 30.00 pts only (about 600 units needed for 1.0 pts); "
           "Perception n=12 detects drops >= 50.00 pts only (about 600 units needed for 1.0 pts); "
           "Reasoning n=8 detects drops >= 75.00 pts only (about 600 units needed for 1.0 pts)."),
])
def test_underpowered_gate_is_inconclusive_exit_3(tmp_path, capsys, n_per_subtask, n_reasoning, blind):
    """n = 4, 8, 20 once printed GATE PASSED for --max-drop 1.0: a 1-point drop cannot be seen there."""
    base, new = _small_pair(tmp_path, n_per_subtask, n_reasoning)
    assert compare_cli.main([str(base), str(new), "--max-drop", "1.0"]) == 3
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1] == ("GATE INCONCLUSIVE (max drop 1.0 pts, alpha 0.05): too few units to "
                                            "detect a drop of 1.0 pts: " + blind)
    row = next(line for line in out.splitlines() if line.startswith("| overall"))
    assert row.rstrip(" |").endswith("inconclusive")


def test_allowance_the_small_n_can_see_passes(tmp_path, capsys):
    """README's demo: n=4 with --max-drop 100 (no drop exceeds 100 points); n=8 sees drops of 75 points."""
    base, new = _small_pair(tmp_path / "four", 1, 0)
    assert compare_cli.main([str(base), str(new), "--max-drop", "100"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == (
        "GATE PASSED: no split-level aggregate dropped by more than 100.0 pts with significance.")
    base, new = _small_pair(tmp_path / "eight", 1, 4)
    assert compare_cli.main([str(base), str(new), "--max-drop", "99"]) == 3  # Perception n=4 sees no drop
    base, new = _small_pair(tmp_path / "twenty", 3, 8)
    assert compare_cli.main([str(base), str(new), "--max-drop", "80"]) == 0  # n=20, 12, 8 see 30, 50, 75 pts
    assert capsys.readouterr().out.strip().splitlines()[-1] == (
        "GATE PASSED: no split-level aggregate dropped by more than 80.0 pts with significance.")


def test_large_n_clear_pass_stays_passed(tmp_path, capsys):
    preds = mme_predictions(n_per_subtask=300, n_reasoning=600)
    new = flip(preds, _ids(preds, "Perception", True, 15, 1), to_correct=False)
    new = flip(new, _ids(preds, "Perception", False, 15, 2), to_correct=True)
    base, new = write_run(tmp_path / "a", preds), write_run(tmp_path / "b", new)
    assert compare_cli.main([str(base), str(new), "--max-drop", "2", "--out", str(tmp_path / "cmp")]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == (
        "GATE PASSED: no split-level aggregate dropped by more than 2.0 pts with significance.")
    table = pd.read_csv(tmp_path / "cmp" / "compare.csv").set_index("group")
    assert table.loc["Reasoning", "detectable"] == pytest.approx(6 / 600)  # no churn: McNemar's 6 units
    assert 0.01 < table.loc["Perception", "detectable"] < 0.02  # 15 flips each way: 14 more broken, or the CI


def test_comparison_page_shows_the_inconclusive_verdict(tmp_path, capsys):
    base, new = _small_pair(tmp_path, 1, 4)
    out = tmp_path / "cmp.html"
    assert html_cli.main([str(base), str(new), "--out", str(out), "--no-plots", "--n-boot", "100"]) == 0
    page = out.read_text(encoding="utf-8")
    assert ('<p class="verdict inconclusive">GATE INCONCLUSIVE (max drop 1.0 pts, alpha 0.05): too few units to '
            "detect a drop of 1.0 pts: Overall n=8 detects drops &gt;= 75.00 pts only") in page
    assert "GATE PASSED" not in page and '<span class="inconclusive">inconclusive</span>' in page
    assert html_cli.main([str(base), str(new), "--out", str(out), "--no-plots", "--max-drop", "100"]) == 0
    assert '<p class="verdict pass">GATE PASSED' in out.read_text(encoding="utf-8")
