"""Whether a run's numbers stand: more failed samples than ``runner.max_failed_fraction`` allows make it invalid.

Why: a failed sample counts as wrong, so a run in which the server answered 500 to every request scores 0% and
looks like a result. Above the fraction the outputs are still written (the failures are what a user needs to see),
but marked: ``invalid`` in scores.json and run.json, the mark on the leaderboard row and the report headline, and
the process exits 1 naming the count and the first error. Failed judge calls are left to
``benchmark.judge.max_failures``, which gates them already.
"""

from __future__ import annotations

from typing import Any, Sequence

from awaker_eval.extract.dispatch import JUDGE_FAILED
from awaker_eval.types import Prediction

INVALID_KEY = "invalid"  # scores.json / run.json key, present only on an invalid run
MARK = "INVALID"  # what labels the run's leaderboard row and report headline


class TooManyFailedSamples(RuntimeError):
    """Raised after every output is written: the run exits 1 (failed samples are retried on a rerun)."""


def failed_samples(predictions: Sequence[Prediction]) -> list[Prediction]:
    """Samples whose model call or input failed (a failed judge call is the judge's, gated on its own)."""
    return [p for p in predictions if p.error is not None and p.extract_method != JUDGE_FAILED]


def invalid_mark(predictions: Sequence[Prediction], max_failed_fraction: float) -> dict[str, Any] | None:
    """The ``invalid`` record of a run with more failed samples than allowed, else None."""
    failed = failed_samples(predictions)
    if not failed or len(failed) <= max_failed_fraction * len(predictions):
        return None
    first = failed[0]
    return {"reason": "too many failed samples", "n_failed": len(failed), "n_total": len(predictions),
            "max_failed_fraction": max_failed_fraction, "first_error": first.error, "first_failed_id": first.id}


def invalid_line(mark: dict[str, Any]) -> str:
    """One line saying why the run's numbers do not stand."""
    return (f"{MARK}: {mark['n_failed']} of {mark['n_total']} samples failed, more than runner.max_failed_fraction="
            f"{mark['max_failed_fraction']} allows; first error (sample {mark['first_failed_id']}): "
            f"{mark['first_error']}")


def marked_label(label: str, scores: dict[str, Any]) -> str:
    """``label`` with the mark when ``scores`` belong to an invalid run."""
    return f"{label} ✗ {MARK}" if scores.get(INVALID_KEY) else label


def check_failed_samples(predictions: Sequence[Prediction], max_failed_fraction: float) -> None:
    """Raise ``TooManyFailedSamples`` (after the outputs are written) when the run is invalid."""
    mark = invalid_mark(predictions, max_failed_fraction)
    if mark is not None:
        raise TooManyFailedSamples(
            f"{invalid_line(mark)}. The outputs are written and marked invalid; fix the cause and rerun the same "
            "command (failed samples are retried), or raise runner.max_failed_fraction")
