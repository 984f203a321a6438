"""Scoring: ``Prediction`` records -> per-unit table and benchmark metrics, as the benchmark object of the
kind computes them (MME-RealWorld pooled §1.5, MMBench CircularEval §3.5, MCQ vanilla accuracy §8)."""

from __future__ import annotations

from typing import Any, Iterable

import pandas as pd

from awaker_eval.score.common import UNIT_COLUMNS
from awaker_eval.tasks.registry import get_benchmark
from awaker_eval.types import Prediction


def score_units(kind: str, predictions: Iterable[Prediction]) -> pd.DataFrame:
    """One row per scoring unit (MME-RealWorld item / MMBench circular question / MCQ item); ``UNIT_COLUMNS``."""
    return get_benchmark(kind).units(list(predictions))


def score_predictions(kind: str, predictions: Iterable[Prediction]) -> dict[str, Any]:
    """The benchmark's metrics as a JSON-ready dict of unrounded fractions and counts.

    MMBench TEST (every answer hidden) gives ``{"answers_hidden": True, "overall": None, ...counts}``."""
    return get_benchmark(kind).metrics(list(predictions))


__all__ = ["UNIT_COLUMNS", "score_predictions", "score_units"]
