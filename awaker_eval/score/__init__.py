"""Scoring: ``Prediction`` records -> per-unit table and benchmark metrics, as the benchmark object handed in
computes them (MME-RealWorld pooled §1.5, MMBench CircularEval §3.5, MCQ vanilla accuracy §8)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

import pandas as pd

from awaker_eval.score.common import UNIT_COLUMNS
from awaker_eval.types import Prediction

if TYPE_CHECKING:  # the caller hands the benchmark object in
    from awaker_eval.tasks.base import Benchmark


def score_units(bench: Benchmark, predictions: Iterable[Prediction]) -> pd.DataFrame:
    """One row per scoring unit (MME-RealWorld item / MMBench circular question / MCQ item); ``UNIT_COLUMNS``."""
    return bench.units(list(predictions))


def score_predictions(bench: Benchmark, predictions: Iterable[Prediction]) -> dict[str, Any]:
    """The benchmark's metrics as a JSON-ready dict of unrounded fractions and counts.

    MMBench TEST (every answer hidden) gives ``{"answers_hidden": True, "overall": None, ...counts}``."""
    return bench.metrics(list(predictions))


__all__ = ["UNIT_COLUMNS", "score_predictions", "score_units"]
