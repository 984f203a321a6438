"""Reading the rows of a VLMEvalKit multiple-choice table, shared by MMBench and the generic MCQ loader: column
names as VLMEvalKit normalises them, the integer ``index`` column, and one row's question / options / answer."""

from __future__ import annotations

from collections import Counter
from typing import Any, Sequence

from awaker_eval.data.errors import DataError, row_error
from awaker_eval.data.options import NA_WORDS, checked_answer, column_choices_and_dropped, require_two_options
from awaker_eval.data.warnings import DataWarnings
from awaker_eval.types import Choice


def normalise_keys(row: dict[str, Any]) -> dict[str, Any]:
    """VLMEvalKit lower-cases column names except single capital letters (``L2-category`` -> ``l2-category``)."""
    return {k if (len(k) == 1 and k.isupper()) else k.lower(): v for k, v in row.items()}


def row_indices(rows: Sequence[dict[str, Any]], where: str) -> list[int]:
    """The ``index`` column as integers (cast, as VLMEvalKit does); a non-integer or repeated one is an error."""
    out = []
    for i, r in enumerate(rows):
        try:
            out.append(int(str(r.get("index")).strip()))
        except ValueError:
            raise row_error(where, i, f"'index' {r.get('index')!r} is not an integer") from None
    dup = sorted(k for k, n in Counter(out).items() if n > 1)
    if dup:
        raise DataError(f"{where}: duplicated 'index' values {dup[:10]}")
    return out


def question_options_answer(row: dict[str, Any], where: str, label: str, index: int, warnings: DataWarnings,
                            pandas_na: bool, answers_required: bool
                            ) -> tuple[str, tuple[Choice, ...], list[str], str | None]:
    """One row's question, options (NaN-read cells dropped as VLMEvalKit drops them, and reported), the dropped
    letters and the checked answer."""
    question = row.get("question")
    if not isinstance(question, str) or not question.strip():
        raise row_error(where, label, "missing or empty 'question'")
    odd = warnings.for_row(where, label, str(index))
    choices, dropped = column_choices_and_dropped(row, where, label, odd, NA_WORDS if pandas_na else frozenset())
    require_two_options(choices, len(dropped), where, label)
    answer = checked_answer(row.get("answer"), choices, answers_required, where, label, dropped, odd)
    return question, choices, dropped, answer
