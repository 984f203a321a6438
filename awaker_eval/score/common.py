"""Small helpers shared by the benchmark scorers."""

from __future__ import annotations

from typing import Any

import pandas as pd
from tabulate import tabulate

from awaker_eval.types import Prediction

# The per-unit table contract (H4's intervals and paired comparisons are built on it).
UNIT_COLUMNS = ["unit", "cluster", "correct", "split", "subtask", "category", "l2_category", "failed", "n_rows"]


def is_failed(p: Prediction) -> bool:
    """A sample that errored (no output): wrong, and kept in the denominator."""
    return p.error is not None or p.raw_output is None


def scored_letter(p: Prediction) -> str:
    """The letter the scorers judge: ``""`` for a failed sample whatever was stored."""
    return "" if is_failed(p) else (p.extracted or "")


def is_correct(p: Prediction) -> bool:
    """Right iff a letter was obtained and equals the ground truth (``""`` and failures are wrong)."""
    letter = scored_letter(p)
    return bool(letter) and letter == p.answer


def mean_or_zero(values: pd.Series) -> float:
    return float(values.mean()) if len(values) else 0.0


def unique_ids(ids: pd.Series) -> None:
    """Duplicated ids would silently change a denominator: name them instead."""
    dup = ids[ids.duplicated()]
    if len(dup):
        shown = ", ".join(repr(x) for x in dup.unique()[:5])
        raise ValueError(f"{len(dup)} duplicated prediction id(s), e.g. {shown}: score one prediction per sample")


def pct(x: float, n: int | None = None) -> str:
    """A percentage for the score text; ``-`` for a group with no items (its stored 0.0 is not a score)."""
    return "-" if n == 0 else f"{100 * x:.2f}"


def category_table(metrics: dict[str, Any]) -> str:
    """The per-``category`` accuracy table that ends every pooled / CircularEval score text."""
    return tabulate([[k, pct(v)] for k, v in sorted(metrics["category"].items())], headers=["category", "acc %"],
                    disable_numparse=True)
