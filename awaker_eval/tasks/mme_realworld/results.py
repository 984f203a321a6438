"""MME-RealWorld's foreign prediction files: the official submission JSON (a list of items whose ``Output``
holds the raw response; also as ``.jsonl``, one item per line) and VLMEvalKit result-table rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from awaker_eval.data.options import choices_from_columns, parse_labelled_options, parse_options_cell
from awaker_eval.score import readers
from awaker_eval.score.readers import _external, table_text
from awaker_eval.types import Choice, Prediction, choice_rows

KIND = "mme_realworld"


def read_predictions(path: str | Path) -> list[Prediction]:
    """Our ``.jsonl``, the official submission (``.json`` / ``.jsonl``) or a VLMEvalKit table."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".jsonl" and _is_official_jsonl(path):
        return read_official_mme_jsonl(path)
    if path.is_file() and path.suffix.lower() == ".json":
        return read_official_mme_json(path)
    return readers.read_predictions(path, KIND, _mme_table_row)


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
    """Submission items (``.json`` array or ``.jsonl`` lines) -> external predictions. A file none of whose items
    has an ``Output`` is the benchmark's question file, not a submission (refused, as a table without a
    ``prediction`` column is): scored, it would be every item failed and Overall 0.0."""
    if items and not any(isinstance(item, dict) and "Output" in item for item in items):
        raise ValueError(f"{path}: none of its {len(items)} items has an 'Output' field (the model's response): "
                         "this is the benchmark's question file, not a submission")
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


def _mme_table_choices(rec: dict, source: str, row: object) -> tuple[Choice, ...]:
    block = rec.get("multi-choice options")
    if isinstance(block, str):  # the TSV's header + lines block, or the Lite TSV's Python list literal
        return parse_options_cell(block, source, row)
    return tuple(Choice(c.letter, c.text, f"({c.letter}) {c.text}") for c in choices_from_columns(rec, source, row))


def _mme_table_row(rec: dict, pid: str, source: str, row: object) -> Prediction:
    task, _, subtask = str(rec.get("category", "")).partition("/")
    return _external(pid, "mme_realworld", "vlmevalkit_table", raw_output=str(rec["prediction"]),
                     answer=table_text(rec.get("answer")), task=task, subtask=subtask,
                     category=table_text(rec.get("l2-category")), cluster=pid, question=table_text(rec.get("question")),
                     choices=choice_rows(_mme_table_choices(rec, source, row)))
