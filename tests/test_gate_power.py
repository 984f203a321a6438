"""The detectable drop behind the gate's INCONCLUSIVE verdict (awaker_eval.report.power)."""

from __future__ import annotations

import math

import pytest

from awaker_eval.report.power import detectable_drop, underpowered, units_needed
from awaker_eval.report.stats import EXACT_CHURN_LIMIT, _normal_threshold, mcnemar, mcnemar_threshold


@pytest.mark.parametrize("churn, alpha, k", [(0, 0.05, 6), (0, 0.01, 8), (15, 0.05, 14), (40, 0.05, 21),
                                             (1000, 0.05, 91)])
def test_mcnemar_threshold_is_the_first_significant_excess(churn, alpha, k):
    assert mcnemar_threshold(churn, alpha) == k
    assert mcnemar(churn + k, churn).p_exact < alpha <= mcnemar(churn + k - 1, churn).p_exact


def test_normal_threshold_continues_the_exact_one():
    churn = EXACT_CHURN_LIMIT
    assert _normal_threshold(churn, 0.05) == mcnemar_threshold(churn, 0.05) == 199
    assert mcnemar_threshold(churn + 1, 0.05) == 199 and mcnemar_threshold(20_000, 0.05) == 395


def test_detectable_drop_takes_the_larger_test_and_the_units_available():
    assert detectable_drop(600, 0, 0, 0.0, 0.0, 0.05) == pytest.approx(0.01)  # 6 of 600 units
    assert detectable_drop(600, 30, 0, -0.07, -0.03, 0.05) == pytest.approx(0.02)  # the interval's half-width
    assert detectable_drop(5, 0, 0, 0.0, 0.0, 0.05) == math.inf  # 6 flips do not fit in 5 units
    assert detectable_drop(20, 8, 8, -0.3, 0.3, 0.05) == math.inf  # 8 + 8 churn + 10 more broken > 20
    assert detectable_drop(600, 0, 0, math.nan, math.nan, 0.05) == math.inf


def test_units_needed_scales_churn_and_half_width():
    assert units_needed(4, 0, 0, 0.0, 0.0, 0.05, 1.0) == 600  # zero churn: 6 units must be 1 point
    assert units_needed(1000, 40, 40, -0.01, 0.01, 0.05, 1.0) == 3700
    assert 100 * detectable_drop(3700, 148, 148, -0.01 * math.sqrt(1000 / 3700), 0.01 * math.sqrt(1000 / 3700),
                                 0.05) <= 1.0
    assert units_needed(100, 0, 0, 0.0, 0.0, 0.05, 0.0) is None  # no n sees every drop above 0
    assert units_needed(100, 0, 0, math.nan, math.nan, 0.05, 1.0) is None


def test_a_hundred_point_allowance_is_always_conclusive():
    assert not underpowered(math.inf, 100.0) and underpowered(math.inf, 99.0)
    assert not underpowered(1.0, 1.0) and underpowered(1.0 + 1e-6, 1.0)
