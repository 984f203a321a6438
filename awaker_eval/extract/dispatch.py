"""The one entry the pipeline and the ``score`` command call per sample: raw output -> (letter, method).

``method`` records how the letter was obtained: ``"rule"`` (the benchmark's rule-based extractor),
``"judge"`` (the optional LLM choice extractor, MMBench passes the rules cannot parse), ``"judge_failed"``
(the judge call itself failed: HTTP error, timeout, empty or malformed reply; the prediction then carries the
error, counts as failed and wrong, and a rerun retries it) or ``"none"`` (no letter: failed sample or unparsed
output).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from awaker_eval.types import Choice, Prediction, Sample

if TYPE_CHECKING:  # the benchmark object is handed in by the caller; never looked up here
    from awaker_eval.tasks.base import Benchmark

Judge = Callable[[str, list[Choice], str], "str | None"]
JUDGE_FAILED = "judge_failed"


class JudgeCallError(RuntimeError):
    """The judge could not answer (endpoint error, timeout, empty or malformed reply): never an unparsed pass."""


@dataclass(frozen=True)
class Extraction:
    """One pass's extraction: ``letter`` ("" when none), ``method`` and, for ``judge_failed``, the ``error``."""

    letter: str
    method: str
    error: str | None = None

def resolve_extractor(bench: Benchmark, extractor: str | None) -> str:
    """Canonical extractor name for ``bench``; ``None`` gives the benchmark's official one."""
    return bench.resolve_extractor(extractor)


def choices_of(item: Sample | Prediction) -> list[Choice]:
    """The options of a Sample, or of a Prediction (stored as ``[[letter, text, raw], ...]``)."""
    if isinstance(item, Sample):
        return list(item.choices)
    out = []
    for entry in item.choices:
        letter, text = str(entry[0]), str(entry[1])
        raw = str(entry[2]) if len(entry) > 2 and entry[2] else f"({letter}) {text}"
        out.append(Choice(letter=letter, text=text, raw=raw))
    return out


def raw_choices(item: Sample | Prediction) -> list[str]:
    """The option strings as the dataset gives them (``"(A) 458"``); cheap, no Choice objects."""
    if isinstance(item, Sample):
        return [c.raw for c in item.choices]
    return [str(e[2]) if len(e) > 2 and e[2] else f"({e[0]}) {e[1]}" for e in item.choices]


def extract_answer(
    bench: Benchmark,
    raw_output: str | None,
    sample_or_prediction: Sample | Prediction,
    extractor: str,
    judge: Judge | None = None,
) -> tuple[str, str]:
    """``(letter, method)`` of ``extract_letter`` (a failed judge call gives ``("", "judge_failed")``)."""
    result = extract_letter(bench, raw_output, sample_or_prediction, extractor, judge)
    return result.letter, result.method


def extract_letter(
    bench: Benchmark,
    raw_output: str | None,
    sample_or_prediction: Sample | Prediction,
    extractor: str,
    judge: Judge | None = None,
) -> Extraction:
    """The extraction of one sample by the benchmark's own extractor; a failed sample (``raw_output is None``)
    gives ``("", "none")``."""
    return bench.extract(raw_output, sample_or_prediction, extractor, judge)
