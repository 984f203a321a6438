"""Which aggregates a benchmark prints, as boolean masks over the per-unit table.

One definition serves intervals, comparison, plots and the HTML report: MME-RealWorld prints Overall, the
Perception / Reasoning splits, ``Split/Subtask`` and the fine category; MMBench prints Overall, the l2 ability
(abbreviated CP, FP-S, ...) and the L3 category. Every aggregate is a pooled mean over the units it selects.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from awaker_eval.data.taxonomy import l2_abbreviation

LEVELS: dict[str, tuple[str, ...]] = {
    "mme_realworld": ("overall", "split", "subtask", "category"),
    "mmbench": ("overall", "l2_category", "category"),
}


def levels_for(kind: str) -> tuple[str, ...]:
    if kind not in LEVELS:
        raise ValueError(f"unknown benchmark kind {kind!r}; expected one of {sorted(LEVELS)}")
    return LEVELS[kind]


def _labels(units: pd.DataFrame, kind: str, level: str) -> pd.Series:
    """The group label of every unit at ``level`` (NaN where the unit has no value there)."""
    if level == "subtask" and kind == "mme_realworld":
        return units["split"].astype(str) + "/" + units["subtask"].astype(str)
    if level == "l2_category":
        return units["l2_category"].map(lambda v: (l2_abbreviation(v) or v) if isinstance(v, str) else v)
    return units[level]


def breakdown_masks(units: pd.DataFrame, kind: str) -> list[tuple[str, str, np.ndarray]]:
    """``(level, group name, mask)`` for every printed aggregate, in print order (groups sorted by name)."""
    out: list[tuple[str, str, np.ndarray]] = []
    for level in levels_for(kind):
        if level == "overall":
            out.append(("overall", "Overall", np.ones(len(units), bool)))
            continue
        if level not in units.columns and not (level == "subtask" and "split" in units.columns):
            continue
        labels = _labels(units, kind, level)
        for name in sorted({v for v in labels.dropna().unique() if str(v) not in ("", "None", "nan")}):
            out.append((level, str(name), (labels == name).to_numpy()))
    return out
