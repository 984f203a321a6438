"""Scoring: ``Prediction`` records -> per-unit table and benchmark metrics (spec §1.5, §3.5)."""

from __future__ import annotations

from typing import Any, Iterable

import pandas as pd

from awaker_eval.score import mmbench, mme_realworld
from awaker_eval.score.common import UNIT_COLUMNS
from awaker_eval.score.mmbench import seed_overall
from awaker_eval.types import Prediction

_SCORERS = {"mme_realworld": mme_realworld, "mmbench": mmbench}


def _frame(kind: str, predictions: Iterable[Prediction]) -> tuple[Any, pd.DataFrame]:
    if kind not in _SCORERS:
        raise ValueError(f"unknown benchmark kind {kind!r}; expected one of {sorted(_SCORERS)}")
    scorer = _SCORERS[kind]
    frame = scorer.item_frame(predictions) if kind == "mme_realworld" else scorer.row_frame(predictions)
    if frame.empty:
        raise ValueError(f"no {kind} predictions to score")
    return scorer, frame


def score_units(kind: str, predictions: Iterable[Prediction]) -> pd.DataFrame:
    """One row per scoring unit (MME-RealWorld item / MMBench circular question); columns ``UNIT_COLUMNS``."""
    scorer, frame = _frame(kind, predictions)
    return scorer.units(frame)


def score_predictions(kind: str, predictions: Iterable[Prediction]) -> dict[str, Any]:
    """The benchmark's metrics as a JSON-ready dict of unrounded fractions and counts.

    MMBench TEST (every answer hidden) gives ``{"answers_hidden": True, "overall": None, ...counts}``."""
    predictions = list(predictions)
    if kind == "mmbench" and predictions and not any(p.answer for p in predictions):
        return mmbench.hidden_metrics(predictions)
    scorer, frame = _frame(kind, predictions)
    return scorer.metrics(frame)


__all__ = ["UNIT_COLUMNS", "score_predictions", "score_units", "seed_overall"]
