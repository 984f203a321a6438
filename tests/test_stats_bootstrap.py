"""Clustered bootstrap, McNemar and the intervals stored in scores.json."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from awaker_eval.report.intervals import add_intervals
from awaker_eval.report.stats import bootstrap_intervals, bootstrap_means, mcnemar, percentile_interval
from awaker_eval.score import score_predictions, score_units
from awaker_eval.tasks.registry import get_benchmark
from test_report_support import mme_predictions, mmbench_predictions


def _units(n: int, acc: float = 0.6, cluster_size: int = 1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.random(n) < acc).astype(float), np.arange(n) // cluster_size


def test_mcnemar_exact_binomial_known_value():
    # b=1, c=9: two-sided exact p = 2 * (C(10,0) + C(10,1)) / 2^10 = 22/1024
    assert mcnemar(1, 9).p_exact == pytest.approx(22 / 1024, rel=1e-12)
    assert mcnemar(9, 1).p_exact == mcnemar(1, 9).p_exact
    assert mcnemar(0, 0).p_exact == 1.0 and mcnemar(5, 5).p_exact == 1.0


def test_mcnemar_chi_square_textbook_value():
    # Agresti, Categorical Data Analysis (2002) §10.1: presidential approval, n12=150, n21=86 -> z^2 = 17.36
    test = mcnemar(150, 86, correction=False)
    assert test.chi2 == pytest.approx(17.356, abs=1e-3)
    assert test.p_chi2 == pytest.approx(3.0993e-5, rel=1e-3)
    assert mcnemar(150, 86).chi2 == pytest.approx(63**2 / 236)  # Edwards' continuity correction


def test_mcnemar_exact_large_counts_stay_finite():
    test = mcnemar(2000, 2100)
    assert 0.1 < test.p_exact < 0.15  # normal approx: z = 100/sqrt(4100) = 1.56 -> p ~ 0.12
    assert test.p_exact == pytest.approx(test.p_chi2, abs=0.01)


def test_bootstrap_reproducible_with_seed():
    values, clusters = _units(500, cluster_size=3)
    groups = {"all": np.ones(500, bool), "half": np.arange(500) < 250}
    _, a = bootstrap_means(values, clusters, groups, n_boot=300, seed=7)
    _, b = bootstrap_means(values, clusters, groups, n_boot=300, seed=7)
    _, c = bootstrap_means(values, clusters, groups, n_boot=300, seed=8)
    np.testing.assert_array_equal(a["all"], b["all"])
    np.testing.assert_array_equal(a["half"], b["half"])
    assert not np.array_equal(a["all"], c["all"])


def test_interval_covers_point_and_shrinks_with_more_samples():
    widths = []
    for n in (200, 5000):
        values, clusters = _units(n)
        table = bootstrap_intervals(values, clusters, {"all": np.ones(n, bool)}, n_boot=500, seed=0)
        row = table.iloc[0]
        assert row["score"] == pytest.approx(values.mean())
        assert row["lo"] < row["score"] < row["hi"]
        widths.append(row["hi"] - row["lo"])
    assert widths[1] < widths[0] / 3  # ~ 1/sqrt(25) = 1/5 of the width


def test_clustering_widens_interval_for_correlated_questions():
    # 400 images x 5 questions, all questions of an image right or wrong together.
    image_ok = (np.random.default_rng(0).random(400) < 0.6).astype(float)
    values = np.repeat(image_ok, 5)
    by_image = bootstrap_intervals(values, np.arange(2000) // 5, {"all": np.ones(2000, bool)}, n_boot=500)
    by_question = bootstrap_intervals(values, np.arange(2000), {"all": np.ones(2000, bool)}, n_boot=500)
    ratio = (by_image["hi"] - by_image["lo"])[0] / (by_question["hi"] - by_question["lo"])[0]
    assert 1.8 < ratio < 2.7  # sqrt(5) = 2.24


def test_percentile_interval_ignores_empty_resamples():
    assert percentile_interval(np.array([np.nan, 0.1, 0.2, 0.3]), alpha=0.0) == (0.1, 0.3)
    assert all(math.isnan(x) for x in percentile_interval(np.array([np.nan])))


def test_add_intervals_mme_every_aggregate_resolved():
    preds = mme_predictions(n_per_subtask=60, n_reasoning=60)
    scores = score_predictions(get_benchmark("mme_realworld"), preds)
    out = add_intervals(scores, score_units(get_benchmark("mme_realworld"), preds), get_benchmark("mme_realworld"), n_boot=200, seed=0)
    ci = out["ci"]
    assert "ci" not in scores  # the input is not modified
    assert ci["cluster"] == "image" and ci["n_units"] == 300 and ci["n_clusters"] == 100 and ci["seed"] == 0
    assert ci["no_interval"] == []
    for key in ("overall", "perception", "reasoning"):
        assert ci[key][0] <= scores[key] <= ci[key][1]
    assert set(ci["subtask"]) == {"OCR with Complex Context", "Remote Sensing", "Diagram and Table",
                                  "Autonomous_Driving", "Monitoring"}
    assert set(ci["subtask_by_task"]["Reasoning"]) == {"Monitoring"}
    assert set(ci["category"]) == set(scores["category"])
    again = add_intervals(scores, score_units(get_benchmark("mme_realworld"), preds), get_benchmark("mme_realworld"), n_boot=200, seed=0)
    assert again["ci"] == ci


def test_add_intervals_refuses_an_aggregate_it_cannot_reproduce():
    preds = mme_predictions(n_per_subtask=20, n_reasoning=20)
    scores = score_predictions(get_benchmark("mme_realworld"), preds)
    scores["reasoning"] += 0.01  # no longer the pooled mean of the Reasoning units
    out = add_intervals(scores, score_units(get_benchmark("mme_realworld"), preds), get_benchmark("mme_realworld"), n_boot=50)
    assert "reasoning" not in out["ci"] and out["ci"]["no_interval"] == ["reasoning"]


def test_add_intervals_mmbench_clusters_are_circular_questions():
    preds = mmbench_predictions(n_questions=120)
    units = score_units(get_benchmark("mmbench"), preds)
    scores = score_predictions(get_benchmark("mmbench"), preds)
    out = add_intervals(scores, units, get_benchmark("mmbench"), n_boot=200, seed=1)
    ci = out["ci"]
    assert ci["cluster"] == "circular question" and ci["n_units"] == ci["n_clusters"] == 120
    assert set(ci["l2_category"]) == {"CP", "FP-S", "FP-C", "AR", "RR", "LR"}
    assert ci["overall"][0] <= scores["overall"] <= ci["overall"][1]
    assert ci["no_interval"] == []


def test_units_table_contract_is_enough():
    """add_intervals needs only the unit table columns (no scorer import needed by its callers)."""
    units = pd.DataFrame({"unit": list("abcd"), "cluster": ["x", "x", "y", "z"], "correct": [1.0, 1.0, 0.0, 1.0],
                          "split": ["Perception"] * 3 + ["Reasoning"], "subtask": ["S"] * 4,
                          "category": ["c"] * 4, "l2_category": [None] * 4, "failed": [False] * 4})
    out = add_intervals({"overall": 0.75, "perception": 2 / 3, "reasoning": 1.0}, units,
                        get_benchmark("mme_realworld"), n_boot=100)
    # one correct unit: the exact interval [(alpha/2)^(1/1), 1] of 1/1, never the bootstrap's [1.0, 1.0]
    assert out["ci"]["reasoning"] == pytest.approx([0.025, 1.0], abs=1e-12)
    assert out["ci"]["exact"] == ["overall", "perception", "reasoning"]  # 3 clusters, 2 and 1: all below 30
    assert out["ci"]["n_clusters"] == 3
