"""Which units a ``benchmark.limit=N`` run scores: ``benchmark.subset`` = first | random | stratified.

Why: the first N units of a file are whichever categories the file lists first (a CI gate on the first 1,000 of
MME-RealWorld-Lite's 1,919 items gated those alone), so their score says little about the rest.
``random`` draws N units; ``stratified`` keeps each category's share of the N (largest-remainder allocation, at
least one unit per category when N allows). Units stay whole: every circular pass of an MMBench question is kept
or dropped together; an MME-RealWorld question is its own unit.

The draw ranks units by SHA-256 of ``(subset_seed, unit id)``, not by a random generator's stream: the same seed
keeps the same units on every machine and Python version, whatever the order of the rows in the file.
"""

from __future__ import annotations

import hashlib
from fractions import Fraction
from typing import Hashable

from awaker_eval.types import Sample

SUBSETS = ("first", "random", "stratified")


def unit_of(sample: Sample) -> str:
    """The scoring unit of a sample (``Sample.group``; the sample itself where it has none)."""
    return sample.group if sample.group is not None else sample.id


def stratum_of(sample: Sample) -> tuple:
    """The finest taxonomy cell of a sample: the "category" whose share ``stratified`` keeps (task, subtask,
    l2 ability and fine category together, so that equal category names under two tasks stay apart)."""
    return (sample.task, sample.subtask, sample.l2_category, sample.category)


def draw_rank(seed: int, unit: str) -> str:
    """The unit's place in the seeded draw (lower is drawn first); a pure function of seed and unit id."""
    return hashlib.sha256(f"{int(seed)}\x1f{unit}".encode()).hexdigest()


def allocate(counts: dict[Hashable, int], n: int) -> dict[Hashable, int]:
    """Units per stratum for ``n`` of ``sum(counts)``: each stratum's exact quota ``n * count / total`` rounded
    by largest remainders (Hamilton), with at least one per stratum when ``n >= len(counts)``. Ties go to the
    stratum met first (``counts`` order), so the allocation is deterministic."""
    total = sum(counts.values())
    if n >= total:
        return dict(counts)
    floor_min = 1 if n >= len(counts) else 0
    quota = {c: Fraction(n * k, total) for c, k in counts.items()}
    alloc = {c: min(counts[c], max(floor_min, int(q))) for c, q in quota.items()}
    order = list(counts)
    while sum(alloc.values()) < n:  # largest remainder first, among strata with units left
        open_ = [c for c in order if alloc[c] < counts[c]]
        best = max(open_, key=lambda c: (quota[c] - alloc[c], -order.index(c)))
        alloc[best] += 1
    while sum(alloc.values()) > n:  # the minimum of one overshot: take from the most over-served stratum
        over = [c for c in order if alloc[c] > floor_min]
        worst = max(over, key=lambda c: (alloc[c] - quota[c], order.index(c)))
        alloc[worst] -= 1
    return alloc


def choose_units(samples: list[Sample], limit: int | None, subset: str = "first", seed: int = 0) -> list[Sample]:
    """The samples of the ``limit`` units ``subset`` picks, in their original order (all when ``limit`` is None
    or not below the number of units)."""
    if subset not in SUBSETS:
        raise ValueError(f"benchmark.subset={subset!r} is unknown: use one of {', '.join(SUBSETS)}")
    units = list(dict.fromkeys(unit_of(s) for s in samples))
    if limit is None or limit >= len(units):
        return samples
    if subset == "first":
        keep = set(units[:limit])
    elif subset == "random":
        keep = set(sorted(units, key=lambda u: draw_rank(seed, u))[:limit])
    else:
        keep = _stratified(samples, limit, seed)
    return [s for s in samples if unit_of(s) in keep]


def _stratified(samples: list[Sample], limit: int, seed: int) -> set[str]:
    """``limit`` units drawn within each stratum by ``allocate``; a unit's stratum is that of its first sample."""
    members: dict[tuple, list[str]] = {}
    seen: set[str] = set()
    for s in samples:
        unit = unit_of(s)
        if unit not in seen:
            seen.add(unit)
            members.setdefault(stratum_of(s), []).append(unit)
    alloc = allocate({c: len(units) for c, units in members.items()}, limit)
    keep: set[str] = set()
    for c, units in members.items():
        keep.update(sorted(units, key=lambda u: draw_rank(seed, u))[:alloc[c]])
    return keep


def describe_subset(limit: int | None, subset: str = "first", seed: int = 0) -> str | None:
    """How a limited run chose its units, in words for the leaderboard notes; None for a run of every unit."""
    if limit is None:
        return None
    if subset == "first":
        return f"limit={limit}: the first {limit:,} units of the file"
    if subset == "random":
        return f"limit={limit}, subset=random: {limit:,} units drawn at random (subset_seed={seed})"
    return (f"limit={limit}, subset=stratified: {limit:,} units drawn in proportion to each category's share, "
            f"at least one per category where the limit allows (subset_seed={seed})")
