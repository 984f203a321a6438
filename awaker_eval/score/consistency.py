"""Refusing prediction sets that cannot be one run of one benchmark, and re-deriving scores from predictions.

The one check every reader of predictions calls: ``awaker-eval score`` on a file, and the run loader
(``report.runs.load_run``) behind ``table`` / ``compare`` / ``plot`` / ``report``. A wrong benchmark (MME-RealWorld
predictions scored as MMBench CircularEval), two models or two prompt protocols mixed in one file would each give
a plausible number with exit 0, so each is refused with a message naming the file and the values.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from awaker_eval.data.taxonomy import MME_TASKS
from awaker_eval.types import Prediction

FINGERPRINTS = (("model_fp", "model fingerprints"), ("protocol_fp", "protocol fingerprints"))
_NAME_MARKS = {"mmbench": ("mmbench",), "mme_realworld": ("mme_realworld", "mme-realworld")}


class InconsistentInput(ValueError):
    """Predictions that are not one run of the requested benchmark; the message names the file and the values."""


def kind_of_name(name: str | None) -> str | None:
    """The benchmark kind a benchmark name says (``mmbench_dev_en`` -> ``mmbench``), None when it says none."""
    low = (name or "").lower()
    found = [kind for kind, marks in _NAME_MARKS.items() if any(m in low for m in marks)]
    return found[0] if len(found) == 1 else None


def _shape_problem(predictions: Sequence[Prediction], kind: str) -> str | None:
    """Positive evidence of the other benchmark in the records themselves."""
    if kind == "mmbench":
        mme = [p for p in predictions if p.task in MME_TASKS]
        if mme:
            return (f"{len(mme)} of {len(predictions)} predictions carry an MME-RealWorld task (e.g. {mme[0].id!r}: "
                    f"task {mme[0].task!r}); MMBench rows have circular groups and categories, not tasks")
        if not any(p.category or p.l2_category for p in predictions):
            return "no prediction has an MMBench category or L2 category"
    else:
        mmb = [p for p in predictions if p.task is None and p.l2_category]
        if mmb:
            return (f"{len(mmb)} of {len(predictions)} predictions carry an MMBench L2 category and no task "
                    f"(e.g. {mmb[0].id!r}: {mmb[0].l2_category!r})")
    return None


def check_predictions(predictions: Sequence[Prediction], kind: str, source: str) -> None:
    """Raise ``InconsistentInput`` unless ``predictions`` are one model's, under one protocol, of ``kind``."""
    for attr, what in FINGERPRINTS:
        values = sorted({getattr(p, attr) for p in predictions})
        if len(values) > 1:
            more = f" and {len(values) - 2} more" if len(values) > 2 else ""
            raise InconsistentInput(f"{source}: predictions of more than one run ({what} {values[0]!r} and "
                                    f"{values[1]!r}{more}): score each run's predictions separately")
    for name in sorted({p.benchmark for p in predictions}):
        said = kind_of_name(name)
        if said is not None and said != kind:
            raise InconsistentInput(f"{source}: predictions of benchmark {name!r} ({said}) cannot be scored as {kind}")
    problem = _shape_problem(predictions, kind) if predictions else None
    if problem:
        raise InconsistentInput(f"{source}: not {kind} predictions: {problem}")


def recompute_scores(kind: str, predictions: Sequence[Prediction]) -> dict[str, Any]:
    """The metrics ``score_predictions`` gives; MME-RealWorld without any answer gives ``overall: None``."""
    from awaker_eval.score import score_predictions

    if kind == "mme_realworld" and predictions and not any(p.answer for p in predictions):
        return {"answers_hidden": True, "overall": None}
    return score_predictions(kind, predictions)


def disagreeing_keys(stored: dict[str, Any], recomputed: dict[str, Any]) -> list[str]:
    """Metric keys whose stored value differs from the recomputed one (JSON-compared, so NaN equals NaN);
    keys an older version did not write are not counted, a missing ``overall`` is."""
    keys = [k for k in recomputed if k in stored or k == "overall"]
    return [k for k in keys
            if json.dumps(stored.get(k), sort_keys=True) != json.dumps(recomputed[k], sort_keys=True, default=str)]
