"""How small a drop the CI gate can see, per aggregate, from its n, its churn and its bootstrap interval.

The gate fails an aggregate only when McNemar's exact p < alpha *and* the paired bootstrap interval lies below
zero, so a drop is detectable only when it clears both thresholds; the detectable drop is the larger one:

- McNemar (exact): with ``m = min(broken, fixed)`` units flipping each way (churn that a regression has to rise
  above), a drop is significant only with at least ``mcnemar_threshold(m, alpha)`` more broken than fixed units.
  It needs no resampling, and it is what matters at small n: at zero churn and alpha 0.05 it is 6 units, so an
  aggregate of fewer than 6 units can never fail and one of 20 units cannot see less than 30 points.
- bootstrap: a drop as large as the interval's half-width moves its upper end to zero at the observed spread;
  this is the term that accounts for clustering (questions that share an image flip together).

When ``--max-drop`` is below the detectable drop of a gated aggregate, PASSED would be claimed for drops the gate
could not have seen: the verdict is INCONCLUSIVE. A ``--max-drop`` of 100 points is always conclusive (no drop is
larger).
"""

from __future__ import annotations

import math

from awaker_eval.report.stats import mcnemar_threshold

MAX_POSSIBLE_DROP = 100.0  # points: an allowance this large can never be exceeded, whatever the n
MAX_UNITS = 10**9  # beyond this, "units needed" is reported as unreachable
TOLERANCE = 1e-9  # points; float noise of k / n * 100


def detectable_drop(n: int, broken: int, fixed: int, lo: float, hi: float, alpha: float) -> float:
    """Smallest drop (a fraction, like ``diff``) this aggregate could call significant; inf when none could."""
    churn = min(int(broken), int(fixed))
    k = mcnemar_threshold(churn, alpha)
    half = (hi - lo) / 2
    if n <= 0 or 2 * churn + k > n or not math.isfinite(half):
        return math.inf  # not enough units for that many flips, or no interval to judge by
    return max(k / n, half)


def _scaled_detectable(n: int, churn: int, half: float, alpha: float, n2: int) -> float:
    """``detectable_drop`` at ``n2`` units with the same flip rate and a half-width shrinking as 1/sqrt(n)."""
    churn2 = round(churn * n2 / n)
    k = mcnemar_threshold(churn2, alpha)
    if 2 * churn2 + k > n2 or not math.isfinite(half):
        return math.inf
    return max(k / n2, half * math.sqrt(n / n2))


def units_needed(n: int, broken: int, fixed: int, lo: float, hi: float, alpha: float, max_drop: float) -> int | None:
    """About how many units would make a ``max_drop``-point drop detectable (churn rate kept, half-width scaled
    by sqrt(n / n')); None when no n would: a 0-point allowance, or more than ``MAX_UNITS`` units."""
    if max_drop <= 0 or n <= 0:
        return None
    churn, half = min(int(broken), int(fixed)), (hi - lo) / 2

    def seen(n2: int) -> bool:
        return 100 * _scaled_detectable(n, churn, half, alpha, n2) <= max_drop + TOLERANCE

    lo_n, hi_n = n, n  # lo_n: not enough (or the start); hi_n: the first doubling that is enough
    while not seen(hi_n):
        lo_n, hi_n = hi_n, 2 * hi_n
        if hi_n > MAX_UNITS:
            return None
    while hi_n - lo_n > 1:
        mid = (lo_n + hi_n) // 2
        lo_n, hi_n = (lo_n, mid) if seen(mid) else (mid, hi_n)
    return hi_n


def underpowered(detectable_points: float, max_drop: float) -> bool:
    """True when drops between ``max_drop`` and the detectable drop could pass unseen."""
    return max_drop < MAX_POSSIBLE_DROP and detectable_points > max_drop + TOLERANCE
