"""VLMEvalKit MCQ result tables (``.xlsx`` / ``.tsv`` / ``.csv`` with a ``prediction`` column) -> Predictions.

Read as VLMEvalKit reads them (``score/readers.py``): pandas defaults, an empty / NA-like prediction cell
becomes ``"nan"``, the xlsx ``_x000D_`` artefact of ``\\r`` is kept; choices = the row's non-NaN ``A``..``Z``.
"""

from __future__ import annotations

from pathlib import Path

from awaker_eval.data.options import choices_from_columns, is_missing
from awaker_eval.score.readers import _external, read_vlmevalkit_table
from awaker_eval.tasks.mcq.loader import KIND
from awaker_eval.types import Prediction, choice_rows

FOREIGN_COLUMNS = {"multi-choice options": "an MME-RealWorld table (score it with --benchmark mme_realworld)"}


def _text(value: object) -> str | None:
    return None if is_missing(value) else str(value)


def _row(rec: dict, pid: str, source: str, row: object) -> Prediction:
    for column, what in FOREIGN_COLUMNS.items():
        if column in rec:
            raise ValueError(f"{source}: has a {column!r} column: {what}, not a multiple-choice result table")
    answer = _text(rec.get("answer"))
    if answer is None:
        raise ValueError(f"{source}, row {row}: no ground-truth 'answer'" + ("" if "answer" in rec else " column"))
    index = int(rec["index"])
    return _external(
        pid, KIND, "vlmevalkit_table", raw_output=str(rec["prediction"]), answer=answer,
        category=_text(rec.get("category")), l2_category=_text(rec.get("l2-category", rec.get("l2_category"))),
        group=pid, cluster=pid, question=_text(rec.get("question")),
        choices=choice_rows(choices_from_columns(rec, source, row)),
        extra={"kind": KIND, "index": index, "hint": _text(rec.get("hint")), "split": _text(rec.get("split"))},
    )


def read_result_table(path: Path) -> list[Prediction]:
    """Predictions of a VLMEvalKit MCQ result table; a table of another benchmark or without answers is refused."""
    return read_vlmevalkit_table(path, KIND, build=_row)
