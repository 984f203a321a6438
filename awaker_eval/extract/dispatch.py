"""The one entry the pipeline and the ``score`` command call per sample: raw output -> (letter, method).

``method`` records how the letter was obtained: ``"rule"`` (the benchmark's rule-based extractor),
``"judge"`` (the optional LLM choice extractor, MMBench passes the rules cannot parse), ``"judge_failed"``
(the judge call itself failed: HTTP error, timeout, empty or malformed reply; the prediction then carries the
error, counts as failed and wrong, and a rerun retries it) or ``"none"`` (no letter: failed sample or unparsed
output).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from awaker_eval.extract import mmbench, mme_realworld
from awaker_eval.tasks.registry import get_benchmark
from awaker_eval.types import Choice, Prediction, Sample

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

# Extractor names accepted by the can_infer benchmarks (MMBench, generic MCQ) -> the canonical name.
MMBENCH_ALIASES: dict[str, str] = {
    "can_infer_2024": "can_infer_2024",
    "can_infer_head": "can_infer_head",
    "official": "can_infer_2024",
    "vlmevalkit_2024": "can_infer_2024",
    "fixed": "can_infer_head",
    "vlmevalkit_head": "can_infer_head",
}


def resolve_extractor(kind: str, extractor: str | None) -> str:
    """Canonical extractor name for ``kind``; ``None`` gives the benchmark's official one."""
    return get_benchmark(kind).resolve_extractor(extractor)


def check_kind(kind: str) -> None:
    get_benchmark(kind)  # an unknown kind lists the registered ones


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
    kind: str,
    raw_output: str | None,
    sample_or_prediction: Sample | Prediction,
    extractor: str,
    judge: Judge | None = None,
) -> tuple[str, str]:
    """``(letter, method)`` of ``extract_letter`` (a failed judge call gives ``("", "judge_failed")``)."""
    result = extract_letter(kind, raw_output, sample_or_prediction, extractor, judge)
    return result.letter, result.method


def extract_letter(
    kind: str,
    raw_output: str | None,
    sample_or_prediction: Sample | Prediction,
    extractor: str,
    judge: Judge | None = None,
) -> Extraction:
    """The extraction of one sample by the benchmark's own extractor; a failed sample (``raw_output is None``)
    gives ``("", "none")``."""
    return get_benchmark(kind).extract(raw_output, sample_or_prediction, extractor, judge)


def extract_mme(raw_output: str | None, item: Sample | Prediction, name: str) -> Extraction:
    """MME-RealWorld's prefix rules (``name`` a canonical variant of ``extract/mme_realworld.py``)."""
    mme_realworld.get_variant(name)
    if raw_output is None:
        return Extraction("", "none")
    raws = raw_choices(item) if name == "official" else None
    if name == "official" and not raws:
        raise ValueError(f"sample {item.id!r}: no answer choices for the official extractor")
    letter = mme_realworld.extract(raw_output, raws, name)
    return Extraction(letter, "rule") if letter else Extraction("", "none")


def extract_can_infer(raw_output: str | None, item: Sample | Prediction, name: str,
                      judge: Judge | None = None) -> Extraction:
    """VLMEvalKit's ``can_infer`` (``name`` = ``can_infer_2024`` | ``can_infer_head``), then the optional judge.

    ``"Z"`` from the rules is a parsed answer (always wrong). ``judge(question, choices, prediction)`` is
    consulted only when the rules parse nothing; its ``None`` leaves the pass unparsed, its ``JudgeCallError``
    makes the pass ``judge_failed`` with the error."""
    if raw_output is None:
        return Extraction("", "none")
    choices = choices_of(item)
    options = {c.letter: c.text for c in choices}
    letter = mmbench.can_infer(raw_output, options, name)
    if letter:
        return Extraction(letter, "rule")
    if judge is not None:
        try:
            judged = judge(item.question or "", choices, raw_output)
        except JudgeCallError as exc:
            return Extraction("", JUDGE_FAILED, str(exc))
        if judged and (judged in options or judged == "Z"):
            return Extraction(judged, "judge")
    return Extraction("", "none")
