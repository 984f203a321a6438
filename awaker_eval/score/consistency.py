"""Refusing prediction sets that cannot be one run of one benchmark, and re-deriving scores from predictions.

The one check every reader of predictions calls: ``awaker-eval score`` on a file, and the run loader
(``report.runs.load_run``) behind ``table`` / ``compare`` / ``plot`` / ``report``. A wrong benchmark (MME-RealWorld
predictions scored as MMBench CircularEval), two models or two prompt protocols mixed in one file would each give
a plausible number with exit 0, so each is refused with a message naming the file and the values.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from awaker_eval.types import Prediction

if TYPE_CHECKING:  # benchmark objects are handed in by the caller; never looked up here
    from awaker_eval.tasks.base import Benchmark

FINGERPRINTS = (("model_fp", "model fingerprints"), ("protocol_fp", "protocol fingerprints"))


class InconsistentInput(ValueError):
    """Predictions that are not one run of the requested benchmark; the message names the file and the values."""


def kind_of_name(name: str | None, known: Iterable[Benchmark]) -> str | None:
    """The benchmark kind a benchmark name says (``mmbench_dev_en`` -> ``mmbench``), None when it says none or
    several; each of the ``known`` benchmarks (every registered one) names its own marks (``name_marks``)."""
    low = (name or "").lower()
    found = [b.kind for b in known if any(m in low for m in b.name_marks())]
    return found[0] if len(found) == 1 else None


def check_predictions(predictions: Sequence[Prediction], bench: Benchmark, source: str,
                      known: Sequence[Benchmark]) -> None:
    """Raise ``InconsistentInput`` unless ``predictions`` are one model's, under one protocol, of ``bench``;
    ``known``: every registered benchmark (a benchmark name in the records that says another one is refused)."""
    kind = bench.kind
    for attr, what in FINGERPRINTS:
        values = sorted({getattr(p, attr) for p in predictions})
        if len(values) > 1:
            more = f" and {len(values) - 2} more" if len(values) > 2 else ""
            raise InconsistentInput(f"{source}: predictions of more than one run ({what} {values[0]!r} and "
                                    f"{values[1]!r}{more}): score each run's predictions separately")
    for name in sorted({p.benchmark for p in predictions}):
        said = kind_of_name(name, known)
        if said is not None and said != kind:
            raise InconsistentInput(f"{source}: predictions of benchmark {name!r} ({said}) cannot be scored as {kind}")
    problem = bench.shape_problem(predictions) if predictions else None
    if problem:
        raise InconsistentInput(f"{source}: not {kind} predictions: {problem}")


def recompute_scores(bench: Benchmark, predictions: Sequence[Prediction]) -> dict[str, Any]:
    """The metrics ``score_predictions`` gives; predictions without any answer give ``overall: None``."""
    return recompute_scored(bench, predictions)[0]


def recompute_scored(bench: Benchmark, predictions: Sequence[Prediction]) -> tuple[dict[str, Any], Any]:
    """``(metrics, units)`` from one build of the item table (``Benchmark.score``); units None when answers are
    hidden. Predictions without any answer give ``overall: None``."""
    if predictions and not any(p.answer for p in predictions):
        return {"answers_hidden": True, "overall": None, **{k: v for k, v in _hidden(bench, predictions).items()}}, None
    return bench.score(list(predictions))


def _hidden(bench: Benchmark, predictions: Sequence[Prediction]) -> dict[str, Any]:
    """What the benchmark reports for hidden answers (MMBench TEST counts), ``{}`` when it has nothing."""
    try:
        out = bench.metrics(list(predictions))
    except ValueError:
        return {}
    return out if out.get("answers_hidden") else {}


def disagreeing_keys(stored: dict[str, Any], recomputed: dict[str, Any]) -> list[str]:
    """Metric keys whose stored value differs from the recomputed one (JSON-compared, so NaN equals NaN);
    keys an older version did not write are not counted, a missing ``overall`` is."""
    keys = [k for k in recomputed if k in stored or k == "overall"]
    return [k for k in keys
            if json.dumps(stored.get(k), sort_keys=True) != json.dumps(recomputed[k], sort_keys=True, default=str)]
