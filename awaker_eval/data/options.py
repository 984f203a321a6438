"""Answer options built from the data (2 to 26 of them, never assumed to be five), with validation.

Oddities that upstream toolkits accept (duplicated texts or letters, NaN-read option cells, trailing newlines,
empty options) are reported through an ``Oddity`` callback (``DataWarnings.for_row``) and loaded as upstream
loads them; without a callback they are refused as before (the score readers' behaviour).
"""

from __future__ import annotations

import ast
import re
import string
from collections.abc import Callable, Mapping, Sequence

import pandas as pd

from awaker_eval.data.errors import row_error
from awaker_eval.types import Choice

# "(A) text", full-width "（A）text"; an older CN release has no space after the bracket.
_LABELLED = re.compile(r"^\s*[(\uff08]\s*([A-Z])\s*[)\uff09]\s?(.*)$", re.DOTALL)
# Line starts of a formatted option block ("...:\n(A) ..\n(B) .."); an option may end in "\n" (a blank line).
_BLOCK_SPLIT = re.compile(r"\n(?=[ \t]*[(\uff08][A-Z][)\uff09])")
# The cell texts pandas' read_csv reads as NaN by default (VLMEvalKit reads its TSVs so); "" is a plain empty cell.
NA_WORDS = frozenset({"#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
                      "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"})
OPTION_LETTERS = tuple(string.ascii_uppercase)

Oddity = Callable[[str, str], None]  # (warning kind, detail) -> None; raises under benchmark.strict


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


def _duplicates(values: Sequence[str]) -> list[str]:
    return sorted({x for x in values if values.count(x) > 1})


def validate_choices(choices: Sequence[Choice], source: str, row: object, odd: Oddity | None = None
                     ) -> tuple[Choice, ...]:
    """Reject empty lists; duplicated letters / texts are refused, or reported through ``odd`` (upstream loads
    them); options ending in a newline and empty options are reported through ``odd`` when given."""
    if not choices:
        raise row_error(source, row, "no answer options")
    raws = [c.raw for c in choices]
    for kind, what, dups in (("duplicated_option_letter", "letter", _duplicates([c.letter for c in choices])),
                             ("duplicated_option_text", "text", _duplicates([c.text for c in choices]))):
        if dups:
            detail = f"duplicated option {what}(s) {dups} in {raws}"
            if odd is None:
                raise row_error(source, row, detail)
            odd(kind, detail)
    if odd is not None:
        if any(c.raw.endswith("\n") for c in choices):
            odd("option_ends_with_newline", f"option ending in a newline in {raws}")
        if any(c.text == "" for c in choices):
            odd("empty_option", f"empty option in {raws}")
    return tuple(choices)


def require_two_options(choices: Sequence[Choice], n_dropped: int, source: str, row: object) -> None:
    """An item needs at least two options (one option is a free point); options that upstream dropped as NaN
    count, since upstream loads such a row."""
    if len(choices) + n_dropped < 2:
        raise row_error(source, row, f"only {len(choices)} answer option(s) {[c.raw for c in choices]}: a "
                                     "multiple-choice item needs at least 2")


def parse_labelled_options(options: object, source: str, row: object, odd: Oddity | None = None
                           ) -> tuple[Choice, ...]:
    """Choices from a list of ``"(X) text"`` strings (MME-RealWorld JSON / Base64 / parquet layouts)."""
    if isinstance(options, str) or not isinstance(options, Sequence):
        raise row_error(source, row, f"answer options must be a list of '(X) text' strings, got {options!r:.200}")
    choices = []
    for raw in options:
        match = _LABELLED.match(raw) if isinstance(raw, str) else None
        if match is None:
            raise row_error(source, row, f"option {raw!r:.200} is not of the form '(X) text'")
        choices.append(Choice(letter=match.group(1), text=match.group(2).strip(), raw=raw))
    return validate_choices(choices, source, row, odd)


def parse_option_block(block: object, source: str, row: object, odd: Oddity | None = None) -> tuple[Choice, ...]:
    """Choices from a VLMEvalKit MME-RealWorld ``multi-choice options`` string: a header line
    (``"The choices are listed below:"`` / ``"选项如下所示:"``) followed by one ``"(X) text"`` per line."""
    if not isinstance(block, str) or "\n" not in block:
        raise row_error(source, row, f"'multi-choice options' is not a header + option lines block: {block!r:.200}")
    _header, body = block.split("\n", 1)
    return parse_labelled_options(_BLOCK_SPLIT.split(body), source, row, odd)


def parse_options_cell(cell: object, source: str, row: object, odd: Oddity | None = None) -> tuple[Choice, ...]:
    """A tabular ``multi-choice options`` cell in any release: a list (Base64 JSON, parquet), the Lite TSV's
    Python list literal (read with ``ast.literal_eval``, never ``eval``) or the TSV's header + lines block."""
    if isinstance(cell, str) and cell.lstrip().startswith("["):
        try:
            cell = ast.literal_eval(cell.strip())
        except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
            raise row_error(source, row, f"'multi-choice options' {cell!r:.200} is not a Python list literal "
                                         f"({type(exc).__name__})") from None
        return parse_labelled_options(cell, source, row, odd)
    if isinstance(cell, str):
        return parse_option_block(cell, source, row, odd)
    return parse_labelled_options(cell, source, row, odd)


def choices_from_columns(row_data: Mapping[str, object], source: str, row: object, odd: Oddity | None = None,
                         na_words: frozenset[str] = frozenset()) -> tuple[Choice, ...]:
    """Choices from option columns ``A``..``Z`` (MMBench): every present, non-missing column, in order.

    ``na_words``: cell texts that upstream's pandas reads as NaN (TSV layouts read the option columns raw so
    that such a cell is told apart from an empty one); they are dropped as upstream drops them, and reported."""
    return column_choices_and_dropped(row_data, source, row, odd, na_words)[0]


def column_choices_and_dropped(row_data: Mapping[str, object], source: str, row: object, odd: Oddity | None,
                               na_words: frozenset[str]) -> tuple[tuple[Choice, ...], list[str]]:
    """``choices_from_columns`` plus the letters dropped as NaN-read cells (for the answer check)."""
    choices, dropped = [], []
    for letter in OPTION_LETTERS:
        value = row_data.get(letter)
        # A literal "nan" is how some parquet mirrors store an absent option (pandas reads it as NaN).
        if letter not in row_data or is_missing(value) or (not na_words and str(value) == "nan"):
            continue
        if str(value) in na_words:
            dropped.append(letter)
            continue
        text = str(value)
        choices.append(Choice(letter=letter, text=text, raw=text))
    if dropped and odd is not None:
        odd("na_option_dropped", f"option(s) {dropped} read as NaN ({[row_data[x] for x in dropped]}) are dropped")
    return validate_choices(choices, source, row, odd), dropped


def checked_answer(answer: object, choices: Sequence[Choice], required: bool, source: str, row: object,
                   dropped: Sequence[str] = (), odd: Oddity | None = None) -> str | None:
    """The ground-truth letter, validated against the options; None only where answers may be hidden.
    An answer on an option upstream dropped as NaN (``dropped``) is kept: the item can never be right."""
    # A literal "nan" is how mirrors store a hidden answer (as they do absent options).
    if is_missing(answer) or (isinstance(answer, str) and answer.strip() in ("", "nan")):
        if required:
            raise row_error(source, row, "no ground-truth answer (required on this split)")
        return None
    letter = str(answer).strip()
    if letter != str(answer) and odd is not None:
        odd("answer_with_whitespace", f"answer cell {str(answer)!r} has whitespace around the letter {letter!r}")
    if letter in dropped and odd is not None:
        odd("answer_on_na_option", f"answer {letter!r} is on option(s) {list(dropped)} read as NaN")
        return letter
    if letter not in {c.letter for c in choices}:
        letters = [c.letter for c in choices]
        raise row_error(source, row, f"answer {letter!r} is not one of the option letters {letters}")
    return letter
