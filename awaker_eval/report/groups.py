"""Which aggregates a benchmark prints, as boolean masks over the per-unit table.

One definition serves intervals, comparison, plots and the HTML report: the benchmark object's ``levels``
and ``level_labels`` (e.g. MME-RealWorld: Overall, the Perception / Reasoning splits, ``Split/Subtask``, the
fine category; MMBench: Overall, the abbreviated l2 ability, the L3 category). Every aggregate is a pooled
mean over the units it selects.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from awaker_eval.tasks.base import Benchmark


def levels_for(bench: Benchmark) -> tuple[str, ...]:
    """The aggregate levels the benchmark prints (``Benchmark.levels``), ``overall`` first."""
    return tuple(level.key for level in bench.levels)


def _labels(units: pd.DataFrame, bench: Benchmark, level: str) -> pd.Series:
    """The group label of every unit at ``level`` (NaN where the unit has no value there)."""
    return bench.level_labels(units, level)


def breakdown_masks(units: pd.DataFrame, bench: Benchmark) -> list[tuple[str, str, np.ndarray]]:
    """``(level, group name, mask)`` for every printed aggregate, in print order (groups sorted by name)."""
    out: list[tuple[str, str, np.ndarray]] = []
    for level in levels_for(bench):
        if level == "overall":
            out.append(("overall", "Overall", np.ones(len(units), bool)))
            continue
        if level not in units.columns and not (level == "subtask" and "split" in units.columns):
            continue
        labels = _labels(units, bench, level)
        for name in sorted({v for v in labels.dropna().unique() if str(v) not in ("", "None", "nan")}):
            out.append((level, str(name), (labels == name).to_numpy()))
    return out
