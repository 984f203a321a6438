"""MMBench rule-based choice extraction: VLMEvalKit ``can_infer`` (spec ``benchmarks.md`` §3.4), own code.

Two pinned behaviours:

- ``can_infer_2024`` (2024-03 .. 2025-08, the leaderboard era): a single choice letter standing as a token
  anywhere wins; else a lone ``Z`` token; else a unique option-text match.
- ``can_infer_head`` (2025-08-04 + 2026-06-17 changes): the letter token must also be among the last 4
  tokens; a verbose ``answer is X`` regex is tried before the text match; the text match gives up when the
  prediction is longer than twice the total option-text length.

Both return the letter, ``"Z"`` (refusal / explicit no-match: counts as wrong), or ``None`` (not parsed).
"""

from __future__ import annotations

import re
from typing import Callable, Mapping

from awaker_eval.extract.dispatch import JUDGE_FAILED, Extraction, Judge, JudgeCallError, choices_of
from awaker_eval.types import Prediction, Sample

API_FAILURE = "Failed to obtain answer via API"
REFUSALS: tuple[str, ...] = (
    "Sorry, I can't help with images of people yet.",
    "I can't process this file.",
    "I'm sorry, but without the image provided",
    "Cannot determine the answer",
)
_PUNCTUATION = str.maketrans({c: " " for c in ".()[],:;!*#{}"})
_VERBOSE_ANSWER = re.compile(r"(?i)(?:correct\s+)?answer\s+is\s+\**([ABCD])\**")


def _option_letter(prediction: str, choices: Mapping[str, str], head: bool) -> str | None:
    """Rules 1-5: a choice letter (or Z) that stands as a whole token."""
    if API_FAILURE in prediction:
        return None
    if any(refusal in prediction for refusal in REFUSALS):
        return "Z"
    tokens = prediction.translate(_PUNCTUATION).split()
    present = [letter for letter in choices if letter in tokens]
    if len(present) == 1:
        letter = present[0]
        if not head or tokens.index(letter) > len(tokens) - 5:
            return letter
    elif not present and "Z" in tokens:
        return "Z"
    if head:
        verbose = _VERBOSE_ANSWER.search(prediction)
        if verbose and verbose.group(1).upper() in choices:
            return verbose.group(1).upper()
    return None


def _text_letter(prediction: str, choices: Mapping[str, str], head: bool) -> str | None:
    """Rule 6: exactly one option text occurs (case-insensitively) in the prediction."""
    lowered = prediction.lower()
    if head and len(lowered) > 2 * sum(len(str(text)) for text in choices.values()):
        return None
    hits = [letter for letter, text in choices.items() if str(text).lower() in lowered]
    return hits[0] if len(hits) == 1 else None


def _can_infer(prediction: object, choices: Mapping[str, str], head: bool) -> str | None:
    text = str(prediction)  # upstream casts; a missing (NaN) prediction becomes "nan"
    return _option_letter(text, choices, head) or _text_letter(text, choices, head)


def can_infer_2024(prediction: object, choices: Mapping[str, str]) -> str | None:
    """Leaderboard-era VLMEvalKit ``can_infer``: letter, ``"Z"`` or ``None``."""
    return _can_infer(prediction, choices, head=False)


def can_infer_head(prediction: object, choices: Mapping[str, str]) -> str | None:
    """VLMEvalKit HEAD (2026) ``can_infer``: letter, ``"Z"`` or ``None``."""
    return _can_infer(prediction, choices, head=True)


CAN_INFER: dict[str, Callable[[object, Mapping[str, str]], str | None]] = {
    "can_infer_2024": can_infer_2024,
    "can_infer_head": can_infer_head,
}


def can_infer(prediction: object, choices: Mapping[str, str], version: str = "can_infer_2024") -> str | None:
    """Dispatch on the pinned version name (``can_infer_2024`` | ``can_infer_head``)."""
    try:
        return CAN_INFER[version](prediction, choices)
    except KeyError:
        raise ValueError(f"unknown MMBench extractor {version!r}; choose one of {sorted(CAN_INFER)}") from None


# Extractor names accepted by the can_infer benchmarks (MMBench, generic MCQ) -> the canonical name.
EXTRACTOR_ALIASES: dict[str, str] = {
    "can_infer_2024": "can_infer_2024",
    "can_infer_head": "can_infer_head",
    "official": "can_infer_2024",
    "vlmevalkit_2024": "can_infer_2024",
    "fixed": "can_infer_head",
    "vlmevalkit_head": "can_infer_head",
}


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
    letter = can_infer(raw_output, options, name)
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
