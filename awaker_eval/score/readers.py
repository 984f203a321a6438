"""Adapters: prediction files made here or elsewhere -> ``Prediction`` records for the scorers.

Formats (chosen by file suffix): our ``predictions.jsonl``; the official MME-RealWorld submission JSON
(a list of items whose ``Output`` holds the raw response; also as ``.jsonl``, one item per line); VLMEvalKit
prediction tables (``.tsv`` / ``.csv`` /
``.xlsx`` with a ``prediction`` column), read with pandas' defaults as VLMEvalKit reads them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from awaker_eval.data.mmbench import CIRCULAR_BASE
from awaker_eval.data.options import (
    choices_from_columns,
    is_missing,
    parse_labelled_options,
    parse_options_cell,
)
from awaker_eval.engine.store import prediction_from_dict
from awaker_eval.extract.dispatch import JUDGE_FAILED, extract_letter
from awaker_eval.score.common import is_correct
from awaker_eval.types import Choice, Prediction, choice_rows

TABLE_SUFFIXES = (".tsv", ".csv", ".xlsx")


def read_predictions(path: str | Path, kind: str) -> list[Prediction]:
    """Predictions from ``path``; foreign formats are extracted later (``reextract``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such prediction file")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        if kind == "mme_realworld" and _is_official_jsonl(path):
            return read_official_mme_jsonl(path)
        return read_jsonl(path)
    if suffix == ".json":
        if kind != "mme_realworld":
            raise ValueError(f"{path}: a .json submission is the MME-RealWorld format, not {kind}")
        return read_official_mme_json(path)
    if suffix in TABLE_SUFFIXES:
        return read_vlmevalkit_table(path, kind)
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


def _is_official_jsonl(path: Path) -> bool:
    """True when the first record is an official MME-RealWorld submission item (``Question_id`` / ``Answer
    choices``), not one of our prediction records."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                try:
                    first = json.loads(line)
                except ValueError:
                    return False
                return isinstance(first, dict) and "Answer choices" in first and "prompt_hash" not in first
    return False


def read_official_mme_jsonl(path: Path) -> list[Prediction]:
    """The official submission as ``.jsonl`` (one item per line), which ``eval_your_results.py`` also reads."""
    items = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if line.strip():
                try:
                    items.append(json.loads(line))
                except ValueError as exc:
                    raise ValueError(f"{path}:{lineno}: not a JSON submission item ({exc})") from exc
    return official_mme_items(items, path)


def read_official_mme_json(path: Path) -> list[Prediction]:
    """The official submission file; an item without a string ``Output`` is a failed sample, not a skip."""
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{path}: not a JSON submission file ({exc})") from exc
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a JSON list of items")
    return official_mme_items(items, path)


def official_mme_items(items: list, path: Path) -> list[Prediction]:
    """Submission items (``.json`` array or ``.jsonl`` lines) -> external predictions."""
    qids = [item.get("Question_id") if isinstance(item, dict) else None for item in items]
    seen: dict[Any, int] = {}
    for q in qids:
        seen[q] = seen.get(q, 0) + 1
    out = []
    for row, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"{path}, item {row}: not an object")
        missing = [k for k in ("Answer choices", "Ground truth", "Task", "Subtask") if k not in item]
        if missing:
            raise ValueError(f"{path}, item {row} ({qids[row]!r}): missing field(s) {missing}")
        qid = qids[row]
        pid = str(qid) if qid is not None and seen[qid] == 1 else f"{qid}@{row}"
        output = item.get("Output")
        out.append(_external(
            pid, "mme_realworld", "mme_official_json",
            raw_output=output if isinstance(output, str) else None,
            error=None if isinstance(output, str) else "no string 'Output' in the submission item",
            answer=item["Ground truth"], task=item["Task"], subtask=item["Subtask"], category=item.get("Category"),
            cluster=item.get("Image"), question=item.get("Text"),
            choices=choice_rows(parse_labelled_options(item["Answer choices"], str(path), row)),
        ))
    return out


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


def _text(value: object) -> str | None:
    return None if is_missing(value) else str(value)


def _mme_table_choices(rec: dict, source: str, row: object) -> tuple[Choice, ...]:
    block = rec.get("multi-choice options")
    if isinstance(block, str):  # the TSV's header + lines block, or the Lite TSV's Python list literal
        return parse_options_cell(block, source, row)
    return tuple(Choice(c.letter, c.text, f"({c.letter}) {c.text}") for c in choices_from_columns(rec, source, row))


def _mme_table_row(rec: dict, pid: str, source: str, row: object) -> Prediction:
    task, _, subtask = str(rec.get("category", "")).partition("/")
    return _external(pid, "mme_realworld", "vlmevalkit_table", raw_output=str(rec["prediction"]),
                     answer=_text(rec.get("answer")), task=task, subtask=subtask,
                     category=_text(rec.get("l2-category")), cluster=pid, question=_text(rec.get("question")),
                     choices=choice_rows(_mme_table_choices(rec, source, row)))


def _mmbench_table_row(rec: dict, pid: str, source: str, row: object) -> Prediction:
    index = int(rec["index"])
    group = str(index % CIRCULAR_BASE)
    extra = {"index": index, "hint": _text(rec.get("hint")), "split": _text(rec.get("split"))}
    return _external(pid, "mmbench", "vlmevalkit_table", raw_output=str(rec["prediction"]),
                     answer=_text(rec.get("answer")), category=_text(rec.get("category")),
                     l2_category=_text(rec.get("l2-category")), group=group, cluster=group,
                     question=_text(rec.get("question")),
                     choices=choice_rows(choices_from_columns(rec, source, row)), extra=extra)


def read_vlmevalkit_table(path: Path, kind: str,
                          build: Callable[[dict, str, str, object], Prediction] | None = None) -> list[Prediction]:
    """A VLMEvalKit prediction table; a missing prediction cell reads as ``"nan"``, as upstream.

    ``build(record, id, file, row label)`` makes one Prediction (default: the MME-RealWorld / MMBench row)."""
    frame = _load_table(path)
    build = build or (_mme_table_row if kind == "mme_realworld" else _mmbench_table_row)
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


def reextract(predictions: list[Prediction], kind: str, extractor: str | None, judge=None) -> None:
    """Set ``extracted`` / ``extract_method`` / ``correct`` of every prediction from its raw output.

    A stored failed judge call was an extraction error, not the model's: it is replaced by the new extraction
    (which fails again, with its own error, when ``judge`` fails again)."""
    for p in predictions:
        if p.extract_method == JUDGE_FAILED:
            p.error = None
        result = extract_letter(kind, p.raw_output, p, extractor, judge)
        p.extracted, p.extract_method = result.letter, result.method
        p.error = p.error or result.error
        p.correct = is_correct(p) if p.answer else None
