"""Shapley attribution of a score difference to the knobs that differ, with paired bootstrap intervals.

Why Shapley: knobs interact (a longer decoding length only matters with the extractor that reads long answers),
so "switch one knob at a time from A" depends on the order. The Shapley value averages a knob's marginal effect
over every order, and the contributions add up to B - A exactly. A score is a pooled mean of per-unit outcomes,
so the attribution is computed per unit (each unit's Shapley values sum to its own B - A) and every aggregate's
contribution is the mean over its units; the bootstrap resamples clusters of units, with the same resamples for
every knob, so each interval is the interval of the Shapley value itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from awaker_eval.report.stats import bootstrap_means, percentile_interval

ZERO = 1e-12  # a unit's Shapley value is a sum of weighted 0/1 differences: below this it is rounding, not a flip
MAX_EXACT_KNOBS = 5  # 2^5 = 32 configurations; above it an exact attribution is refused (or sampled on request)


def exact_masks(k: int) -> list[int]:
    """Every configuration between A (mask 0) and B (all bits set)."""
    return list(range(2 ** k))


def exact_shapley(values: Mapping[int, np.ndarray], k: int) -> np.ndarray:
    """``(k, units)`` per-unit Shapley values from the outcomes of all ``2^k`` configurations."""
    n = len(values[0])
    phi = np.zeros((k, n))
    for i in range(k):
        bit = 1 << i
        for mask in range(2 ** k):
            if mask & bit:
                continue
            size = bin(mask).count("1")
            weight = math.factorial(size) * math.factorial(k - size - 1) / math.factorial(k)
            phi[i] += weight * (values[mask | bit] - values[mask])
    return phi


def permutation_orders(k: int, n: int, seed: int) -> list[tuple[int, ...]]:
    """``n`` random orders in which the knobs are switched from A's value to B's (a sampled Shapley estimate)."""
    rng = np.random.default_rng(seed)
    return [tuple(int(i) for i in rng.permutation(k)) for _ in range(n)]


def path_masks(orders: list[tuple[int, ...]]) -> list[int]:
    """The configurations the orders walk through (A and B included), sorted."""
    seen = {0}
    for order in orders:
        mask = 0
        for i in order:
            mask |= 1 << i
            seen.add(mask)
    return sorted(seen)


def sampled_shapley(values: Mapping[int, np.ndarray], orders: list[tuple[int, ...]], k: int) -> np.ndarray:
    """``(k, units)`` mean marginal effect of each knob over the sampled orders; each order's marginals telescope
    to B - A, so the estimate still sums to B - A exactly."""
    n = len(values[0])
    phi = np.zeros((k, n))
    for order in orders:
        mask = 0
        for i in order:
            phi[i] += values[mask | 1 << i] - values[mask]
            mask |= 1 << i
    return phi / len(orders)


@dataclass(frozen=True)
class GroupAttribution:
    """One aggregate (Overall or a split): ``total`` = B - A and each knob's contribution (fractions), their
    ``1 - alpha`` intervals, and per knob the units it made right (``fixed``) or wrong (``broken``) on balance."""

    name: str
    n: int
    score_a: float
    score_b: float
    total: float
    total_interval: tuple[float, float]
    contributions: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    fixed: dict[str, int]
    broken: dict[str, int]


def attribute_group(name: str, mask: np.ndarray, phi: np.ndarray, outcome_a: np.ndarray, outcome_b: np.ndarray,
                    knobs: list[str], clusters: np.ndarray, n_boot: int, seed: int,
                    alpha: float) -> GroupAttribution:
    """The attribution of one aggregate; the same ``seed`` gives every knob (and the total) the same resamples."""
    groups = {name: mask}

    def interval(values: np.ndarray) -> tuple[float, float]:
        _, dists = bootstrap_means(values, clusters, groups, n_boot=n_boot, seed=seed)
        return percentile_interval(dists[name], alpha)

    sel = phi[:, mask]
    return GroupAttribution(
        name, int(mask.sum()), float(outcome_a[mask].mean()), float(outcome_b[mask].mean()),
        float((outcome_b[mask] - outcome_a[mask]).mean()), interval(outcome_b - outcome_a),
        {k: float(sel[i].mean()) for i, k in enumerate(knobs)},
        {k: interval(phi[i]) for i, k in enumerate(knobs)},
        {k: int((sel[i] > ZERO).sum()) for i, k in enumerate(knobs)},
        {k: int((sel[i] < -ZERO).sum()) for i, k in enumerate(knobs)},
    )
