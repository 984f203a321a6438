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

KINDS = ("mme_realworld", "mmbench")
# Extractor names accepted per benchmark kind -> the canonical name used by the extractor module.
MMBENCH_ALIASES: dict[str, str] = {
    "can_infer_2024": "can_infer_2024",
    "can_infer_head": "can_infer_head",
    "official": "can_infer_2024",
    "vlmevalkit_2024": "can_infer_2024",
    "fixed": "can_infer_head",
    "vlmevalkit_head": "can_infer_head",
}
DEFAULT_EXTRACTOR = {"mme_realworld": "official", "mmbench": "can_infer_2024"}


def resolve_extractor(kind: str, extractor: str | None) -> str:
    """Canonical extractor name for ``kind``; ``None`` gives the benchmark's official one."""
    check_kind(kind)
    if extractor is None:
        return DEFAULT_EXTRACTOR[kind]
    if kind == "mme_realworld":
        mme_realworld.get_variant(extractor)
        return extractor
    if extractor not in MMBENCH_ALIASES:
        raise ValueError(f"unknown MMBench extractor {extractor!r}; choose one of {sorted(MMBENCH_ALIASES)}")
    return MMBENCH_ALIASES[extractor]


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown benchmark kind {kind!r}; expected one of {KINDS}")


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
    """The extraction of one sample; a failed sample (``raw_output is None``) gives ``("", "none")``.

    MMBench: ``"Z"`` from the rules is a parsed answer (always wrong). ``judge(question, choices,
    prediction)`` is consulted only when the rules parse nothing; its ``None`` leaves the pass unparsed, its
    ``JudgeCallError`` makes the pass ``judge_failed`` with the error.
    """
    name = resolve_extractor(kind, extractor)
    if raw_output is None:
        return Extraction("", "none")
    if kind == "mme_realworld":
        raws = raw_choices(sample_or_prediction) if name == "official" else None
        if name == "official" and not raws:
            raise ValueError(f"sample {sample_or_prediction.id!r}: no answer choices for the official extractor")
        letter = mme_realworld.extract(raw_output, raws, name)
        return Extraction(letter, "rule") if letter else Extraction("", "none")
    choices = choices_of(sample_or_prediction)
    options = {c.letter: c.text for c in choices}
    letter = mmbench.can_infer(raw_output, options, name)
    if letter:
        return Extraction(letter, "rule")
    if judge is not None:
        try:
            judged = judge(sample_or_prediction.question or "", choices, raw_output)
        except JudgeCallError as exc:
            return Extraction("", JUDGE_FAILED, str(exc))
        if judged and (judged in options or judged == "Z"):
            return Extraction(judged, "judge")
    return Extraction("", "none")
