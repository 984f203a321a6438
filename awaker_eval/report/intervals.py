"""Attach bootstrap intervals to a scorer's ``scores`` dict (what the pipeline stores in ``scores.json``).

The scorer decides which aggregates exist and how they are keyed; this module finds, for every aggregate it
printed, the units behind it, checks that their pooled mean *is* that number, and adds the interval under
``scores["ci"]`` at the same path. Aggregates it cannot match (no units, or a different value) are listed in
``ci["no_interval"]`` rather than given an interval for the wrong units.
"""

from __future__ import annotations

import copy
from typing import Any, Iterator

import numpy as np
import pandas as pd

from awaker_eval.data.taxonomy import l2_abbreviation
from awaker_eval.report.stats import bootstrap_means, percentile_interval
from awaker_eval.tasks.registry import get_benchmark

MAPPINGS = ("subtask", "category", "l2_category")  # flat {name: fraction} breakdowns
SPLIT_KEYS = {"perception": "Perception", "reasoning": "Reasoning"}
TOLERANCE = 1e-9


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


def add_intervals(
    scores: dict, units: pd.DataFrame, kind: str, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05
) -> dict:
    """A copy of ``scores`` with ``ci``: a (1 - alpha) clustered-bootstrap interval for every aggregate.

    ``units`` is the per-unit table of ``awaker_eval.score.score_units``. Intervals are ``[lo, hi]`` fractions
    at the aggregate's own path: ``ci["overall"]``, ``ci["perception"]``, ``ci["subtask"][name]``,
    ``ci["subtask_by_task"][task][subtask]``, ``ci["l2_category"][abbr]``, ... Clusters resampled:
    MME-RealWorld images, MMBench circular questions. Same seed, same intervals.
    """
    out = copy.deepcopy(scores)
    values = units["correct"].astype(float).to_numpy()
    clusters = (units["cluster"] if "cluster" in units.columns else units["unit"]).to_numpy()
    groups: dict[str, np.ndarray] = {}
    no_interval: list[str] = []
    for path, printed, mask in _aggregates(scores, units):
        if not mask.any() or abs(float(values[mask].mean()) - printed) > TOLERANCE:
            no_interval.append("/".join(path))
        else:
            groups["\x1f".join(path)] = mask
    _, dists = bootstrap_means(values, clusters, groups, n_boot=n_boot, seed=seed)
    ci: dict[str, Any] = {
        "level": 1 - alpha,
        "method": "percentile bootstrap; clusters resampled with replacement",
        "cluster": get_benchmark(kind).cluster_meaning,
        "n_boot": int(n_boot),
        "seed": int(seed),
        "n_units": int(len(units)),
        "n_clusters": int(pd.Series(clusters).nunique()),
    }
    for name, dist in dists.items():
        _put(ci, tuple(name.split("\x1f")), list(percentile_interval(dist, alpha)))
    ci["no_interval"] = sorted(no_interval)
    out["ci"] = ci
    return out
