"""Small-n intervals (report/small_n.py): exact Clopper-Pearson below 30 clusters or for a degenerate bootstrap,
"n too small" for tiny paired differences, the bootstrap unchanged for large groups; never a zero-width interval."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from awaker_eval.report import html_cli
from awaker_eval.report.compare import compare_table, gate, verdict_line
from awaker_eval.report.compare_cli import format_table
from awaker_eval.report.intervals import add_intervals, run_intervals
from awaker_eval.report.small_n import MIN_CLUSTERS, beta_cdf, clopper_pearson, degenerate, paired_interval
from awaker_eval.report.stats import bootstrap_means, percentile_interval
from awaker_eval.tasks.registry import get_benchmark
from test_report_support import mme_predictions, write_run

MME = get_benchmark("mme_realworld")


def test_clopper_pearson_known_values():
    assert clopper_pearson(3, 3) == pytest.approx((0.025 ** (1 / 3), 1.0), abs=1e-12)  # (alpha/2)^(1/n), 1
    assert clopper_pearson(0, 10) == pytest.approx((0.0, 1 - 0.025 ** 0.1), abs=1e-12)
    assert clopper_pearson(5, 10) == pytest.approx((0.18708602844739, 0.81291397155261), abs=1e-10)  # R binom.test
    assert clopper_pearson(37, 100) == pytest.approx((0.27556657961455, 0.47235164055168), abs=1e-10)
    assert beta_cdf(0.3, 2, 5) == pytest.approx(0.579825, abs=1e-6)  # I_0.3(2, 5) = 1 - 0.7^6 - 6*0.3*0.7^5


def _units(correct, clusters=None, split="Perception") -> pd.DataFrame:
    n = len(correct)
    return pd.DataFrame({"unit": [f"u{i}" for i in range(n)],
                         "cluster": clusters if clusters is not None else [f"c{i}" for i in range(n)],
                         "correct": np.asarray(correct, float), "split": [split] * n, "subtask": ["S"] * n,
                         "category": ["cat"] * n, "l2_category": [None] * n, "failed": [False] * n})


def _scores(units: pd.DataFrame) -> dict:
    acc = float(units["correct"].mean())
    return {"overall": acc, "perception": acc}


def test_three_correct_units_get_the_exact_interval_not_zero_width():
    units = _units([1, 1, 1])
    ci = add_intervals(_scores(units), units, MME, n_boot=1000)["ci"]
    assert ci["overall"] == pytest.approx([0.29240177382128, 1.0], abs=1e-12)  # [0.025^(1/3), 1]
    assert ci["exact"] == ["overall", "perception"] and ci["overall"][0] < ci["overall"][1]


def test_clustered_small_groups_count_clusters_as_n():
    units = _units([1] * 6 + [0] * 3, clusters=[f"img{i // 3}" for i in range(9)])  # 3 images, 3 questions each
    table = run_intervals(_scores(units), units, MME, n_boot=500)[1].table
    overall = table[table["level"] == "overall"].iloc[0]
    assert (overall["method"], overall["clusters"]) == ("exact", 3)
    assert (overall["lo"], overall["hi"]) == pytest.approx(clopper_pearson(2, 3))  # 2/3 of 3 images, not 6 of 9


def test_a_degenerate_bootstrap_falls_back_at_large_n():
    units = _units([1] * 40)  # 40 clusters, all correct: every resample is 1.0
    _, dists = bootstrap_means(units["correct"], units["cluster"], {"all": np.ones(40, bool)}, n_boot=200)
    assert degenerate(dists["all"]) and percentile_interval(dists["all"]) == (1.0, 1.0)
    ci = add_intervals(_scores(units), units, MME, n_boot=200)["ci"]
    assert ci["overall"] == pytest.approx([0.025 ** (1 / 40), 1.0], abs=1e-12) and "overall" in ci["exact"]


def test_large_groups_keep_the_bootstrap_interval():
    rng = np.random.default_rng(0)
    units = _units(rng.random(200) < 0.6, clusters=[f"img{i // 2}" for i in range(200)])  # 100 clusters
    ci = add_intervals(_scores(units), units, MME, n_boot=300, seed=3)["ci"]
    _, dists = bootstrap_means(units["correct"], units["cluster"], {"all": np.ones(200, bool)}, n_boot=300, seed=3)
    assert ci["overall"] == list(percentile_interval(dists["all"])) and ci["exact"] == []
    assert MIN_CLUSTERS == 30


def _merged(base, new, clusters=None) -> pd.DataFrame:
    units = _units(base, clusters)
    return units.rename(columns={"correct": "correct_base"}).assign(correct_new=np.asarray(new, float))


def test_tiny_paired_differences_say_n_too_small():
    merged = _merged([1, 1, 1], [0, 0, 0])  # 3 units, all broken: the bootstrap says [-100, -100]
    table = compare_table(merged, MME, n_boot=200)
    row = table[table["level"] == "overall"].iloc[0]
    assert math.isnan(row["lo"]) and math.isnan(row["hi"]) and row["interval"] == "n too small"
    assert (row["boot_lo"], row["boot_hi"]) == (-1.0, -1.0)  # what the gate tests (McNemar decides: p = 0.25)
    shown = format_table(table, pd.Index([]), 0.05)
    assert "n too small" in shown and "[-100.00, -100.00]" not in shown
    result = gate(table, max_drop=1.0)
    assert result.verdict == "INCONCLUSIVE" and "GATE INCONCLUSIVE" in verdict_line(result, 1.0, 0.05, "split")


def test_identical_runs_get_an_exact_interval_around_zero():
    merged = _merged([1, 0] * 25, [1, 0] * 25)  # 50 clusters, no flip: every resample is 0
    row = compare_table(merged, MME, n_boot=200).iloc[0]
    bound = 1 - 0.0125 ** (1 / 50)  # Clopper-Pearson upper bound of 0/50 at level 1 - alpha/2 (Bonferroni)
    assert (row["lo"], row["hi"], row["interval"]) == (pytest.approx(-bound), pytest.approx(bound), "exact")
    assert (row["boot_lo"], row["boot_hi"]) == (0.0, 0.0)


def test_paired_interval_keeps_the_bootstrap_with_spread():
    dist = np.linspace(-0.1, 0.05, 101)
    assert paired_interval(dist, 0.1, 0.05, 40) == (*percentile_interval(dist), "")
    assert paired_interval(dist, 0.1, 0.05, 29)[2] == "n too small"


def test_a_report_of_all_correct_small_groups_shows_no_zero_width_interval(tmp_path):
    run = write_run(tmp_path / "run", mme_predictions(n_per_subtask=3, n_reasoning=3, acc=1.0), n_boot=100)
    assert html_cli.main([str(run), "--n-boot", "100"]) == 0
    page = (run / "report.html").read_text(encoding="utf-8")
    assert "[100.00, 100.00]" not in page and "exact, n=1 image<" in page  # 3 questions on one image
    lo = 100 * 0.025 ** (1 / 5)  # Overall: 15 units on 5 images, all correct
    assert f"[{lo:.2f}, 100.00] exact" in page
    csvs = sorted((run / "plots").glob("*.csv"))
    bars = [pd.read_csv(path) for path in csvs if "lo" in pd.read_csv(path).columns]
    assert bars and all((frame["lo"] < frame["hi"]).all() and set(frame["method"]) == {"exact"} for frame in bars)


def test_intervals_stored_under_the_earlier_rule_are_not_reused():
    units = _units([1, 1, 1])
    stored = add_intervals(_scores(units), units, MME, n_boot=100)
    earlier = json.loads(json.dumps(stored))
    del earlier["ci"]["small_n"], earlier["ci"]["exact"]
    earlier["ci"]["overall"] = [1.0, 1.0]  # what the bootstrap alone wrote before
    table = run_intervals(earlier, units, MME, n_boot=100)[1].table
    assert table.iloc[0]["lo"] == pytest.approx(0.025 ** (1 / 3)) and table.iloc[0]["method"] == "exact"
    reused = run_intervals(stored, units, MME, n_boot=100)[1].table
    assert reused.iloc[0]["method"] == "exact" and reused.equals(table)
