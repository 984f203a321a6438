"""Clustered bootstrap and McNemar's test: the statistics behind every interval and the CI gate.

Questions that share an image (MME-RealWorld) or the rotations of one MMBench question are not independent, so
the bootstrap resamples *clusters* and recomputes pooled means (Σ value / Σ units) for every group at once from
the same resamples. Vectorised: per chunk of resamples one (chunk x clusters) count matrix, then one
matrix-vector product per group over only the clusters that group touches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Mapping

import numpy as np
import pandas as pd

CHUNK = 100  # resamples per chunk; fixed so a seed gives the same intervals on every machine


@dataclass(frozen=True)
class GroupStats:
    """Per-cluster sums of one group: the clusters it touches, Σ value and unit count in each."""

    clusters: np.ndarray
    sums: np.ndarray
    counts: np.ndarray

    @property
    def point(self) -> float:
        n = self.counts.sum()
        return float(self.sums.sum() / n) if n else float("nan")


def cluster_codes(clusters) -> tuple[np.ndarray, int]:
    """Integer codes 0..C-1 for cluster labels (missing labels become their own clusters)."""
    labels = pd.Series(list(clusters), dtype=object)
    missing = labels.isna()
    if missing.any():
        labels[missing] = [f"\0unit{i}" for i in np.flatnonzero(missing)]
    codes, uniques = pd.factorize(labels)
    return codes.astype(np.int64), len(uniques)


def group_stats(values: np.ndarray, codes: np.ndarray, n_clusters: int, mask: np.ndarray) -> GroupStats:
    """Collapse the units selected by ``mask`` to per-cluster sums and counts."""
    sel = codes[mask]
    sums = np.bincount(sel, weights=values[mask], minlength=n_clusters)
    counts = np.bincount(sel, minlength=n_clusters).astype(np.float64)
    touched = np.flatnonzero(counts)
    return GroupStats(touched, sums[touched], counts[touched])


def bootstrap_means(
    values,
    clusters,
    groups: Mapping[str, np.ndarray],
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Point estimates and bootstrap distributions of the pooled mean of ``values`` in each group.

    ``groups`` maps a name to a boolean mask over the units. Every group is evaluated on the same cluster
    resamples, so differences between groups stay coherent. Returns ``(points, distributions)``; a resample in
    which a group has no unit gives NaN for that group.
    """
    values = np.asarray(values, dtype=np.float64)
    codes, n_clusters = cluster_codes(clusters)
    if len(codes) != len(values):
        raise ValueError(f"values ({len(values)}) and clusters ({len(codes)}) differ in length")
    stats = {name: group_stats(values, codes, n_clusters, np.asarray(mask, bool)) for name, mask in groups.items()}
    points = {name: st.point for name, st in stats.items()}
    dists = {name: np.empty(n_boot) for name in stats}
    if n_clusters == 0 or n_boot <= 0:
        return points, {name: np.full(max(n_boot, 0), np.nan) for name in stats}
    rng = np.random.default_rng(seed)
    for start in range(0, n_boot, CHUNK):
        b = min(CHUNK, n_boot - start)
        draws = rng.integers(0, n_clusters, size=(b, n_clusters))
        draws += (np.arange(b) * n_clusters)[:, None]
        weights = np.bincount(draws.ravel(), minlength=b * n_clusters).reshape(b, n_clusters).astype(np.float64)
        for name, st in stats.items():
            w = weights if len(st.clusters) == n_clusters else weights[:, st.clusters]
            den = w @ st.counts
            with np.errstate(invalid="ignore", divide="ignore"):
                dists[name][start : start + b] = np.where(den > 0, (w @ st.sums) / den, np.nan)
    return points, dists


def percentile_interval(dist: np.ndarray, alpha: float = 0.05) -> tuple[float, float]:
    """Two-sided (1 - alpha) percentile interval of a bootstrap distribution (NaN resamples ignored)."""
    finite = dist[np.isfinite(dist)]
    if finite.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(finite, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def bootstrap_intervals(
    values, clusters, groups: Mapping[str, np.ndarray], n_boot: int = 1000, seed: int = 0, alpha: float = 0.05
) -> pd.DataFrame:
    """One row per group: ``group, n, score, lo, hi`` (fractions; n = number of units)."""
    points, dists = bootstrap_means(values, clusters, groups, n_boot=n_boot, seed=seed)
    rows = []
    for name, mask in groups.items():
        lo, hi = percentile_interval(dists[name], alpha)
        rows.append({"group": name, "n": int(np.asarray(mask, bool).sum()), "score": points[name], "lo": lo, "hi": hi})
    return pd.DataFrame(rows, columns=["group", "n", "score", "lo", "hi"])


@dataclass(frozen=True)
class McNemar:
    """McNemar's test on paired 0/1 outcomes. ``b``: right -> wrong (broken), ``c``: wrong -> right (fixed)."""

    b: int
    c: int
    p_exact: float  # two-sided exact binomial test of b ~ Bin(b + c, 1/2)
    chi2: float  # statistic with Edwards' continuity correction (0 when b + c == 0)
    p_chi2: float


def mcnemar(b: int, c: int, correction: bool = True) -> McNemar:
    """McNemar's exact (binomial) and chi-square p-values for ``b`` and ``c`` discordant pairs."""
    b, c = int(b), int(c)
    n = b + c
    if n == 0:
        return McNemar(b, c, 1.0, 0.0, 1.0)
    k = np.arange(1, min(b, c) + 1)
    log_terms = np.concatenate([[0.0], np.cumsum(np.log(n - k + 1) - np.log(k))])  # log C(n, i), i = 0..min
    top = log_terms.max()
    log_tail = top + math.log(np.exp(log_terms - top).sum()) - n * math.log(2)
    p_exact = min(1.0, 2 * math.exp(log_tail))
    diff = max(abs(b - c) - (1 if correction else 0), 0)
    chi2 = diff * diff / n
    return McNemar(b, c, p_exact, chi2, math.erfc(math.sqrt(chi2 / 2)))


def paired_flips(base: np.ndarray, new: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks of units that went right -> wrong (broken) and wrong -> right (fixed)."""
    base = np.asarray(base) > 0.5
    new = np.asarray(new) > 0.5
    return base & ~new, ~base & new



EXACT_CHURN_LIMIT = 5000  # above this many units flipping each way, the normal approximation is exact to a unit


def mcnemar_threshold(churn: int, alpha: float) -> int:
    """Smallest excess ``k`` of broken over fixed units that McNemar's exact test calls significant (p < alpha)
    when ``churn`` units flip each way anyway: a net drop of fewer than ``k`` units can never fail the gate, so
    ``k / n`` is the smallest drop the gate can see at this n (the zero-churn floor at alpha 0.05 is 6 units)."""
    churn = int(churn)
    if churn > EXACT_CHURN_LIMIT:
        return _normal_threshold(churn, alpha)
    lo, hi = 0, 1  # invariant: p(churn + lo, churn) >= alpha > p(churn + hi, churn) once hi is found
    while mcnemar(churn + hi, churn).p_exact >= alpha:
        lo, hi = hi, 2 * hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if mcnemar(churn + mid, churn).p_exact < alpha:
            hi = mid
        else:
            lo = mid
    return hi


def _normal_threshold(churn: int, alpha: float) -> int:
    """``mcnemar_threshold`` for large churn: smallest k with (k - 1)² > z²·(2·churn + k), z the 1 - alpha/2
    normal quantile (McNemar's continuity-corrected statistic, which the exact test approaches)."""
    z2 = NormalDist().inv_cdf(1 - alpha / 2) ** 2
    root = ((2 + z2) + math.sqrt((2 + z2) ** 2 - 4 * (1 - 2 * churn * z2))) / 2
    return int(math.floor(root)) + 1
