"""Bootstrap intervals of a run, computed once: the ``ci`` block of ``scores.json`` and the per-group table the
report and the plots show come from one ``bootstrap_means`` call (``run_intervals``).

The scorer decides which aggregates exist and how they are keyed; this module finds, for every aggregate it
printed, the units behind it, checks that their pooled mean *is* that number, and adds the interval under
``scores["ci"]`` at the same path. Aggregates it cannot match (no units, or a different value) are listed in
``ci["no_interval"]`` rather than given an interval for the wrong units.

The per-group table (``IntervalTable``: every group of ``report.groups.breakdown_masks``) reuses the stored
``ci`` when it was made with the same resamples (n_boot, seed, level) on the same units (``units_digest`` of
each unit's value and cluster): a group whose units are exactly those of a stored aggregate gets that aggregate's
interval, which is the number the bootstrap would give again. Only groups without one are bootstrapped, all in
one call.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import pandas as pd

from awaker_eval.data.taxonomy import l2_abbreviation
from awaker_eval.report.groups import breakdown_masks
from awaker_eval.report.small_n import MIN_CLUSTERS, GroupInterval, group_interval
from awaker_eval.report.stats import GroupStats, bootstrap_means, cluster_codes, group_stats
from awaker_eval.tasks.base import Benchmark

MAPPINGS = ("subtask", "category", "l2_category")  # flat {name: fraction} breakdowns
SPLIT_KEYS = {"perception": "Perception", "reasoning": "Reasoning"}
TOLERANCE = 1e-9
TABLE_COLUMNS = ("level", "group", "n", "score", "lo", "hi", "method", "clusters")  # IntervalTable.table
# The small-n rule (report/small_n.py), stored with the intervals: a ``ci`` made under another rule is not reused.
SMALL_N_RULE = (f"Clopper-Pearson exact interval, n = clusters, for aggregates of fewer than {MIN_CLUSTERS} "
                "clusters or with a degenerate bootstrap (fewer than 2 distinct resample values)")


def _is_num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _column_eq(units: pd.DataFrame, column: str, value: str) -> np.ndarray:
    if column not in units.columns:
        return np.zeros(len(units), bool)
    col = units[column].astype(str)
    if column == "l2_category":
        col = col.map(lambda v: l2_abbreviation(v) or v)
        value = l2_abbreviation(value) or value
    return col.to_numpy() == str(value)


def _aggregates(scores: dict, units: pd.DataFrame) -> Iterator[tuple[tuple[str, ...], float, np.ndarray]]:
    """(path in scores, printed value, unit mask) for every aggregate the scorer printed."""
    if _is_num(scores.get("overall")):
        yield ("overall",), float(scores["overall"]), np.ones(len(units), bool)
    for key, split in SPLIT_KEYS.items():
        if _is_num(scores.get(key)):
            yield (key,), float(scores[key]), _column_eq(units, "split", split)
    for column in MAPPINGS:
        mapping = scores.get(column)
        for name, value in (mapping.items() if isinstance(mapping, dict) else ()):
            if _is_num(value):
                yield (column, str(name)), float(value), _column_eq(units, column, name)
    by_task = scores.get("subtask_by_task")
    for task, subs in (by_task.items() if isinstance(by_task, dict) else ()):
        for sub, entry in (subs.items() if isinstance(subs, dict) else ()):
            if isinstance(entry, dict) and _is_num(entry.get("acc")) and entry.get("n", 1):
                mask = _column_eq(units, "split", task) & _column_eq(units, "subtask", sub)
                yield ("subtask_by_task", str(task), str(sub)), float(entry["acc"]), mask


def _put(tree: dict, path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        tree = tree.setdefault(part, {})
    tree[path[-1]] = value


@dataclass(frozen=True)
class IntervalTable:
    """Every group of a run (``breakdown_masks`` order): ``table`` has ``level, group, n, score, lo, hi, method,
    clusters`` (fractions; ``score`` the pooled mean; ``method`` bootstrap | exact, see ``small_n``), ``masks`` the
    units of each row; ``key`` the resamples behind it."""

    key: tuple[int, int, float]
    table: pd.DataFrame
    masks: tuple[np.ndarray, ...]


def _values_clusters(units: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    values = units["correct"].astype(float).to_numpy()
    clusters = (units["cluster"] if "cluster" in units.columns else units["unit"]).to_numpy()
    return values, clusters


def units_digest(values: np.ndarray, clusters: np.ndarray) -> str:
    """SHA-256 of what the bootstrap resamples (each unit's value and cluster, in order): equal digests, equal
    resampled distributions for the same seed."""
    h = hashlib.sha256(np.asarray(values, dtype=np.float64).tobytes())
    h.update("\x1f".join(map(str, clusters)).encode())
    return h.hexdigest()


def _stored_matches(ci: Any, digest: str, n_boot: int, seed: int, alpha: float) -> bool:
    """Whether a stored ``ci`` block was made with these resamples on these units (else it is not reused; blocks
    written before the digest was stored are recomputed)."""
    if not isinstance(ci, dict):
        return False
    try:
        return (int(ci.get("n_boot", -1)) == int(n_boot) and int(ci.get("seed", -1)) == int(seed)
                and abs(float(ci.get("level", -1)) - (1 - alpha)) < TOLERANCE and ci.get("units_digest") == digest
                and ci.get("small_n") == SMALL_N_RULE)
    except (TypeError, ValueError):
        return False


def _get(tree: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        tree = tree.get(part) if isinstance(tree, dict) else None
    return tree


def _interval(value: Any) -> tuple[float, float] | None:
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(_is_num(v) for v in value):
        return float(value[0]), float(value[1])
    return None


def _reused(stored: dict, path: tuple[str, ...], interval: tuple[float, float], stats: GroupStats) -> GroupInterval:
    """A stored aggregate's interval with its method (``ci["exact"]`` lists the exact ones)."""
    method = "exact" if "/".join(path) in (stored.get("exact") or []) else "bootstrap"
    return GroupInterval(interval[0], interval[1], method, len(stats.clusters))


def run_intervals(scores: dict, units: pd.DataFrame, bench: Benchmark, n_boot: int = 1000, seed: int = 0,
                  alpha: float = 0.05) -> tuple[dict, IntervalTable]:
    """``(scores with ci, per-group table)`` of one run from at most one bootstrap call.

    ``scores`` keeps its own ``ci`` when it has one (as stored); otherwise ``ci`` is added (see ``add_intervals``).
    Groups are bootstrapped once each: identical unit sets share one distribution, stored intervals made with the
    same resamples on the same units are reused, everything else is resampled together."""
    values, clusters = _values_clusters(units)
    stored = scores.get("ci")
    digest = units_digest(values, clusters)
    reuse = _stored_matches(stored, digest, n_boot, seed, alpha)
    codes, n_clusters = cluster_codes(clusters)
    known: dict[bytes, GroupInterval] = {}  # mask -> interval
    wanted: dict[str, np.ndarray] = {}  # one entry per distinct mask still to resample
    ci_paths: dict[tuple[str, ...], tuple[bytes, np.ndarray]] = {}
    no_interval: list[str] = []
    for path, printed, mask in _aggregates(scores, units):
        if not mask.any() or abs(float(values[mask].mean()) - printed) > TOLERANCE:
            no_interval.append("/".join(path))
            continue
        key = np.packbits(mask).tobytes()
        ci_paths[path] = key, mask
        old = _interval(_get(stored, path)) if reuse else None
        if old is not None:
            known.setdefault(key, _reused(stored, path, old, group_stats(values, codes, n_clusters, mask)))
    masks = breakdown_masks(units, bench)
    needs_ci = "ci" not in scores
    for _, _, mask in masks:
        wanted.setdefault(np.packbits(mask).tobytes(), mask)
    if needs_ci:
        for key, mask in ci_paths.values():
            wanted.setdefault(key, mask)
    pending = {key.hex(): mask for key, mask in wanted.items() if key not in known}
    if pending:
        _, dists = bootstrap_means(values, clusters, pending, n_boot=n_boot, seed=seed)
        for name, dist in dists.items():
            stats = group_stats(values, codes, n_clusters, np.asarray(pending[name], bool))
            known[bytes.fromhex(name)] = group_interval(dist, stats, alpha)
    rows = []
    for level, name, mask in masks:
        iv = known[np.packbits(mask).tobytes()]
        point = group_stats(values, codes, n_clusters, np.asarray(mask, bool)).point
        rows.append({"level": level, "group": name, "n": int(mask.sum()), "score": point, "lo": iv.lo, "hi": iv.hi,
                     "method": iv.method, "clusters": iv.clusters})
    table = IntervalTable((int(n_boot), int(seed), float(alpha)),
                          pd.DataFrame(rows, columns=list(TABLE_COLUMNS)),
                          tuple(mask for _, _, mask in masks))
    if not needs_ci:
        return scores, table
    out = copy.deepcopy(scores)
    out["ci"] = _ci_block(bench, units, clusters, digest, (n_boot, seed, alpha),
                          {path: known[key] for path, (key, _) in ci_paths.items()}, no_interval)
    return out, table


def _ci_block(bench: Benchmark, units: pd.DataFrame, clusters: np.ndarray, digest: str,
              settings: tuple[int, int, float], intervals: dict[tuple[str, ...], GroupInterval],
              no_interval: list[str]) -> dict[str, Any]:
    """The ``ci`` block stored in ``scores``: how the intervals were made, then each aggregate's ``[lo, hi]`` at
    its own path, and the aggregates without one."""
    n_boot, seed, alpha = settings
    ci: dict[str, Any] = {
        "level": 1 - alpha,
        "method": "percentile bootstrap; clusters resampled with replacement (the aggregates in exact: small_n)",
        "small_n": SMALL_N_RULE,
        "cluster": bench.cluster_meaning,
        "n_boot": int(n_boot),
        "seed": int(seed),
        "n_units": int(len(units)),
        "n_clusters": int(pd.Series(clusters).nunique()),
        "units_digest": digest,
    }
    for path, interval in intervals.items():
        _put(ci, path, [interval.lo, interval.hi])
    ci["exact"] = sorted("/".join(path) for path, interval in intervals.items() if interval.method == "exact")
    ci["no_interval"] = sorted(no_interval)
    return ci


def add_intervals(
    scores: dict, units: pd.DataFrame, bench: Benchmark, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05
) -> dict:
    """A copy of ``scores`` with ``ci``: a (1 - alpha) clustered-bootstrap interval for every aggregate.

    ``units`` is the per-unit table of ``awaker_eval.score.score_units``. Intervals are ``[lo, hi]`` fractions
    at the aggregate's own path: ``ci["overall"]``, ``ci["perception"]``, ``ci["subtask"][name]``,
    ``ci["subtask_by_task"][task][subtask]``, ``ci["l2_category"][abbr]``, ... Clusters resampled:
    MME-RealWorld images, MMBench circular questions. Same seed, same intervals. An existing ``ci`` is replaced.
    """
    fresh = {k: v for k, v in scores.items() if k != "ci"}
    return run_intervals(fresh, units, bench, n_boot=n_boot, seed=seed, alpha=alpha)[0]
