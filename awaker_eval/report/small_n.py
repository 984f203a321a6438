"""Intervals that never claim certainty: the exact binomial fallback of the clustered bootstrap.

Why: a percentile bootstrap over a few clusters reads as certainty where there is none. Three correct units
resample to 100% every time (``[100, 100]``); a group where every unit flipped gives a paired difference of
``[-100, -100]``. Below ``MIN_CLUSTERS`` clusters the bootstrap also under-covers badly (it has at most
C(2n-1, n) distinct resamples and is the plug-in distribution of a tiny sample), and at any n a group whose
clusters all score alike (all right, all wrong) has one resample value.

The rule, for one run's aggregate: fewer than ``MIN_CLUSTERS`` clusters, or a degenerate bootstrap (fewer than
two distinct resample values) -> the Clopper-Pearson interval with n = the clusters the aggregate touches (units
that share an image, or the passes of a circular question, are not independent: the clusters are the effective
sample size) and k = its pooled accuracy x n. Clopper-Pearson is exact (coverage >= 95% at every n and p), so it
is wide where it must be. For a paired difference (``compare``) below ``MIN_CLUSTERS`` clusters no interval is
given ("n too small"); a degenerate one at larger n gets the Bonferroni combination of the Clopper-Pearson
intervals of its broken and fixed rates.

30 clusters: the usual floor for normal / bootstrap approximations of a proportion; at and above it the percentile
bootstrap and Clopper-Pearson nearly agree away from 0 and 1, where the degenerate rule takes over.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from awaker_eval.report.stats import GroupStats, percentile_interval

MIN_CLUSTERS = 30
N_TOO_SMALL = "n too small"
SPREAD_TOLERANCE = 1e-12  # resample values closer than this are one value (pooled means of 0/1 data)


def _beta_fraction(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularised incomplete beta function (modified Lentz)."""
    tiny, c, d = 1e-300, 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 1000):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def beta_cdf(x: float, a: float, b: float) -> float:
    """P(X <= x) for X ~ Beta(a, b), a, b > 0 (the regularised incomplete beta function I_x(a, b))."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, 1.0 - x) / b


def beta_quantile(p: float, a: float, b: float) -> float:
    """The x with ``beta_cdf(x, a, b) == p``, by bisection (the cdf is increasing) to float precision."""
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if mid in (lo, hi):
            break
        lo, hi = (mid, hi) if beta_cdf(mid, a, b) < p else (lo, mid)
    return (lo + hi) / 2


def clopper_pearson(k: float, n: float, alpha: float = 0.05) -> tuple[float, float]:
    """Exact two-sided (1 - alpha) interval of a binomial proportion with k successes in n trials (k may be
    fractional: an effective count); ``[alpha/2 ** (1/n), 1]`` when k = n."""
    if n <= 0:
        return math.nan, math.nan
    k = min(max(round(float(k), 9), 0.0), float(n))  # pooled mean x clusters: float noise, never outside [0, n]
    lo = 0.0 if k <= 0 else beta_quantile(alpha / 2, k, n - k + 1)
    hi = 1.0 if k >= n else beta_quantile(1 - alpha / 2, k + 1, n - k)
    return lo, hi


def degenerate(dist: np.ndarray) -> bool:
    """Whether a bootstrap distribution has fewer than two distinct values (no spread to take quantiles of)."""
    finite = np.asarray(dist, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    return finite.size < 2 or float(finite.max() - finite.min()) <= SPREAD_TOLERANCE


@dataclass(frozen=True)
class GroupInterval:
    """One aggregate's interval (fractions), how it was made (``bootstrap`` | ``exact``) and its clusters."""

    lo: float
    hi: float
    method: str
    clusters: int


def group_interval(dist: np.ndarray, stats: GroupStats, alpha: float = 0.05) -> GroupInterval:
    """The percentile bootstrap interval of an aggregate, or its exact fallback (module docstring)."""
    clusters = len(stats.clusters)
    if clusters == 0:
        return GroupInterval(math.nan, math.nan, "none", 0)
    if clusters >= MIN_CLUSTERS and not degenerate(dist):
        return GroupInterval(*percentile_interval(dist, alpha), "bootstrap", clusters)
    return GroupInterval(*clopper_pearson(stats.point * clusters, clusters, alpha), "exact", clusters)


def paired_interval(dist: np.ndarray, broken: float, fixed: float, clusters: int,
                    alpha: float = 0.05) -> tuple[float, float, str]:
    """``(lo, hi, note)`` of a paired difference (fractions; ``broken`` / ``fixed`` the rates of right -> wrong
    and wrong -> right units): the percentile bootstrap (note ""), nothing below ``MIN_CLUSTERS`` clusters
    (note "n too small"), or for a degenerate bootstrap the difference's range over Clopper-Pearson intervals of
    both rates at level 1 - alpha/2 each (note "exact"; joint coverage >= 1 - alpha by Bonferroni)."""
    if clusters < MIN_CLUSTERS:
        return math.nan, math.nan, N_TOO_SMALL
    if not degenerate(dist):
        return (*percentile_interval(dist, alpha), "")
    b_lo, b_hi = clopper_pearson(broken * clusters, clusters, alpha / 2)
    f_lo, f_hi = clopper_pearson(fixed * clusters, clusters, alpha / 2)
    return f_lo - b_hi, f_hi - b_lo, "exact"


def interval_text(lo: float, hi: float, note: str = "", signed: bool = False) -> str:
    """An interval as shown (percent points): ``[+1.20, +3.40]``, or the note when there is none."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return note or "-"
    fmt = "{:+.2f}" if signed else "{:.2f}"
    return f"[{fmt.format(100 * lo)}, {fmt.format(100 * hi)}]"
