"""MME-RealWorld(-CN) answer extraction (spec ``benchmarks.md`` §1.4), written from the spec's rules.

Variants differ only in the prefix list (the official one concatenates two pairs of strings because of
missing commas upstream) and in the choice strings used by rule 5 (the item's real options or ``(A)``..``(E)``):

- ``official``: official prefixes + the item's real choices (the leaderboard scorer);
- ``vlmevalkit_2024``: official prefixes + default choices (VLMEvalKit until 2026-06, lmms-eval before 2024-11-15);
- ``fixed``: fixed prefixes + default choices (lmms-eval since 2024-11-15);
- ``vlmevalkit_head``: ``fixed`` plus VLMEvalKit HEAD's ``<answer>...</answer>`` unwrapping.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from awaker_eval.extract.dispatch import Extraction, raw_choices
from awaker_eval.types import Prediction, Sample

OFFICIAL_PREFIXES: tuple[str, ...] = (
    "The best answer is",
    "The correct answer is",
    "The answer is",
    "The answer",
    "The best option isThe correct option is",
    "Best answer:Best option:",
)
FIXED_PREFIXES: tuple[str, ...] = (
    "The best answer is",
    "The correct answer is",
    "The answer is",
    "The answer",
    "The best option is",
    "The correct option is",
    "Best answer:",
    "Best option:",
)
DEFAULT_CHOICES: tuple[str, ...] = ("(A)", "(B)", "(C)", "(D)", "(E)")

_LETTER = re.compile("[ABCDE]")
_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


@dataclass(frozen=True)
class MMEVariant:
    """One extraction protocol: which prefixes, whether the item's real choices are used, tag unwrapping."""

    prefixes: tuple[str, ...]
    real_choices: bool
    answer_tag: bool = False


VARIANTS: dict[str, MMEVariant] = {
    "official": MMEVariant(OFFICIAL_PREFIXES, real_choices=True),
    "vlmevalkit_2024": MMEVariant(OFFICIAL_PREFIXES, real_choices=False),
    "fixed": MMEVariant(FIXED_PREFIXES, real_choices=False),
    "vlmevalkit_head": MMEVariant(FIXED_PREFIXES, real_choices=False, answer_tag=True),
}


def get_variant(variant: str) -> MMEVariant:
    try:
        return VARIANTS[variant]
    except KeyError:
        raise ValueError(f"unknown MME-RealWorld extractor {variant!r}; choose one of {sorted(VARIANTS)}") from None


def extract(s: str, choices: Sequence[str] | None, variant: str = "official") -> str:
    """The letter the chosen scorer reads from response ``s``, or ``""``.

    ``choices`` are the item's option strings (``"(A) 458"``...); only the ``official`` variant uses them.
    The empty response gives ``"A"`` (rule 5: the empty string is a substring of every choice), as upstream.
    """
    spec = get_variant(variant)
    if spec.answer_tag:
        tagged = _ANSWER_TAG.search(s)
        if tagged:
            s = tagged.group(1).strip().upper()
    if spec.real_choices:
        if not choices:
            raise ValueError("the 'official' MME-RealWorld extractor needs the item's answer choices")
        options = choices
    else:
        options = DEFAULT_CHOICES
    s = s.strip()
    for prefix in spec.prefixes:
        s = s.replace(prefix, "")
    letter = _LETTER.search(s)
    if letter is None and len(s.split()) > 10:
        return ""
    if letter is not None:
        return letter.group(0)
    lowered = s.lower()
    for option in options:
        if lowered in option.lower():
            return option[1] if len(option) > 1 else ""
    return ""


def extract_mme(raw_output: str | None, item: Sample | Prediction, name: str) -> Extraction:
    """MME-RealWorld's prefix rules for one sample (``name`` a canonical variant of ``VARIANTS``)."""
    get_variant(name)
    if raw_output is None:
        return Extraction("", "none")
    raws = raw_choices(item) if name == "official" else None
    if name == "official" and not raws:
        raise ValueError(f"sample {item.id!r}: no answer choices for the official extractor")
    letter = extract(raw_output, raws, name)
    return Extraction(letter, "rule") if letter else Extraction("", "none")
