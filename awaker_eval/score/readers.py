"""Adapters: prediction files made here or elsewhere -> ``Prediction`` records for the scorers.

Formats shared by every benchmark (chosen by file suffix): our ``predictions.jsonl``; VLMEvalKit prediction
tables (``.tsv`` / ``.csv`` / ``.xlsx`` with a ``prediction`` column), read with pandas' defaults as VLMEvalKit
reads them, each row built by the benchmark's own ``TableRow``. A benchmark's own formats (the MME-RealWorld
submission JSON) live in its folder under ``awaker_eval/tasks/``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import pandas as pd

from awaker_eval.data.options import is_missing
from awaker_eval.engine.store import prediction_from_dict
from awaker_eval.extract.dispatch import JUDGE_FAILED, extract_letter
from awaker_eval.score.common import is_correct
from awaker_eval.types import Prediction

if TYPE_CHECKING:  # the caller hands the benchmark object in
    from awaker_eval.tasks.base import Benchmark

TABLE_SUFFIXES = (".tsv", ".csv", ".xlsx")
TableRow = Callable[[dict, str, str, object], Prediction]  # (record, id, file, row label) -> Prediction


def read_predictions(path: str | Path, kind: str, table_row: TableRow) -> list[Prediction]:
    """Predictions from ``path`` (our ``.jsonl`` or a VLMEvalKit table, whose rows ``table_row`` builds);
    foreign formats are extracted later (``reextract``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such prediction file")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return read_jsonl(path)
    if suffix in TABLE_SUFFIXES:
        return read_vlmevalkit_table(path, kind, table_row)
    raise ValueError(f"{path}: unknown prediction format {suffix!r} (expected .jsonl, .json, {TABLE_SUFFIXES})")


def read_jsonl(path: Path) -> list[Prediction]:
    """Our predictions file; any unreadable line is an error naming the line (it would change the denominator)."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                if not isinstance(obj, dict):  # a list / string / number / null line is not a record
                    raise TypeError(f"expected a JSON object, got {type(obj).__name__}")
                out.append(prediction_from_dict(obj))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{path}:{lineno}: not a prediction record ({exc})") from exc
    return out


def _external(pid: str, benchmark: str, fmt: str, **fields: Any) -> Prediction:
    return Prediction(id=pid, benchmark=benchmark, prompt_hash="", protocol_fp=f"external:{fmt}", model_fp="",
                      extracted="", extract_method="none", correct=None, **fields)


def _load_table(path: Path) -> pd.DataFrame:
    """pandas as VLMEvalKit reads its tables; then column names lower-cased except single capitals."""
    text_cols = {"prediction": str, "answer": str}
    if path.suffix.lower() == ".xlsx":
        frame = pd.read_excel(path, dtype=text_cols)
    else:
        frame = pd.read_csv(path, sep="\t" if path.suffix.lower() == ".tsv" else ",", dtype=text_cols)
    frame.columns = [c if len(str(c)) == 1 and str(c).isupper() else str(c).lower() for c in frame.columns]
    for col in ("index", "prediction"):
        if col not in frame.columns:
            raise ValueError(f"{path}: no {col!r} column (columns: {list(frame.columns)})")
    return frame


def table_text(value: object) -> str | None:
    return None if is_missing(value) else str(value)


def read_vlmevalkit_table(path: Path, kind: str, build: TableRow) -> list[Prediction]:
    """A VLMEvalKit prediction table; a missing prediction cell reads as ``"nan"``, as upstream.

    ``build(record, id, file, row label)`` makes one Prediction (the benchmark's own row reader)."""
    frame = _load_table(path)
    out = []
    for row, rec in enumerate(frame.to_dict("records")):
        index = _table_index(rec["index"], path, row)
        rec["index"] = index
        rec["prediction"] = "nan" if is_missing(rec["prediction"]) else rec["prediction"]
        out.append(build(rec, str(index), str(path), f"{row} (index {index})"))
    return out


def _table_index(value: object, path: Path, row: int) -> int:
    """The row's integer ``index`` (VLMEvalKit casts it); a bad cell names the file and row."""
    try:
        number = float(str(value).strip())  # xlsx / NaN-holding columns read as float
    except ValueError:
        number = float("nan")
    if not number.is_integer():
        raise ValueError(f"{path}, row {row}: 'index' {value!r} is not an integer")
    return int(number)


def reextract(predictions: list[Prediction], bench: Benchmark, extractor: str | None, judge=None) -> None:
    """Set ``extracted`` / ``extract_method`` / ``correct`` of every prediction from its raw output.

    A stored failed judge call was an extraction error, not the model's: it is replaced by the new extraction
    (which fails again, with its own error, when ``judge`` fails again)."""
    for p in predictions:
        if p.extract_method == JUDGE_FAILED:
            p.error = None
        result = extract_letter(bench, p.raw_output, p, extractor, judge)
        p.extracted, p.extract_method = result.letter, result.method
        p.error = p.error or result.error
        p.correct = is_correct(p) if p.answer else None
