"""Answer options built from the data (2 to 26 of them, never assumed to be five), with validation."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence

import pandas as pd

from awaker_eval.data.errors import row_error
from awaker_eval.types import Choice

# "(A) text", full-width "（A）text"; an older CN release has no space after the bracket.
_LABELLED = re.compile(r"^\s*[(\uff08]\s*([A-Z])\s*[)\uff09]\s?(.*)$", re.DOTALL)
# Line starts of a formatted option block ("...:\n(A) ..\n(B) ..").
_BLOCK_SPLIT = re.compile(r"\n(?=\s*[(\uff08][A-Z][)\uff09])")


def is_missing(value: object) -> bool:
    """True for None and NaN-like scalars (what pandas writes for an empty TSV cell)."""
    if value is None:
        return True
    if isinstance(value, (str, bytes, list, tuple, dict)):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def validate_choices(choices: Sequence[Choice], source: str, row: object) -> tuple[Choice, ...]:
    """Reject empty lists, duplicated letters and duplicated option texts (the row is ambiguous)."""
    if not choices:
        raise row_error(source, row, "no answer options")
    letters = [c.letter for c in choices]
    dup_letters = sorted({x for x in letters if letters.count(x) > 1})
    if dup_letters:
        raise row_error(source, row, f"duplicated option letter(s) {dup_letters} in {[c.raw for c in choices]}")
    texts = [c.text for c in choices]
    dup_texts = sorted({x for x in texts if texts.count(x) > 1})
    if dup_texts:
        raise row_error(source, row, f"duplicated option text(s) {dup_texts} in {[c.raw for c in choices]}")
    return tuple(choices)


def parse_labelled_options(options: object, source: str, row: object) -> tuple[Choice, ...]:
    """Choices from a list of ``"(X) text"`` strings (MME-RealWorld JSON / Base64 / parquet layouts)."""
    if isinstance(options, str) or not isinstance(options, Sequence):
        raise row_error(source, row, f"answer options must be a list of '(X) text' strings, got {options!r:.200}")
    choices = []
    for raw in options:
        match = _LABELLED.match(raw) if isinstance(raw, str) else None
        if match is None:
            raise row_error(source, row, f"option {raw!r:.200} is not of the form '(X) text'")
        choices.append(Choice(letter=match.group(1), text=match.group(2).strip(), raw=raw))
    return validate_choices(choices, source, row)


def parse_option_block(block: object, source: str, row: object) -> tuple[Choice, ...]:
    """Choices from a VLMEvalKit MME-RealWorld ``multi-choice options`` string: a header line
    (``"The choices are listed below:"`` / ``"选项如下所示:"``) followed by one ``"(X) text"`` per line."""
    if not isinstance(block, str) or "\n" not in block:
        raise row_error(source, row, f"'multi-choice options' is not a header + option lines block: {block!r:.200}")
    _header, body = block.split("\n", 1)
    return parse_labelled_options(_BLOCK_SPLIT.split(body), source, row)


def choices_from_columns(row_data: Mapping[str, object], source: str, row: object) -> tuple[Choice, ...]:
    """Choices from option columns ``A``..``Z`` (MMBench): every present, non-missing column, in order."""
    choices = []
    for letter in string.ascii_uppercase:
        value = row_data.get(letter)
        # A literal "nan" is how some parquet mirrors store an absent option (pandas reads it as NaN).
        if letter in row_data and not is_missing(value) and str(value) != "nan":
            text = str(value)
            choices.append(Choice(letter=letter, text=text, raw=text))
    return validate_choices(choices, source, row)


def checked_answer(answer: object, choices: Sequence[Choice], required: bool, source: str, row: object) -> str | None:
    """The ground-truth letter, validated against the options; None only where answers may be hidden."""
    # A literal "nan" is how mirrors store a hidden answer (as they do absent options).
    if is_missing(answer) or (isinstance(answer, str) and answer.strip() in ("", "nan")):
        if required:
            raise row_error(source, row, "no ground-truth answer (required on this split)")
        return None
    letter = str(answer).strip()
    if letter not in {c.letter for c in choices}:
        letters = [c.letter for c in choices]
        raise row_error(source, row, f"answer {letter!r} is not one of the option letters {letters}")
    return letter
