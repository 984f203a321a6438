"""MME-RealWorld(-CN) loaders: the official JSON + image folder, and the tabular releases (Base64 JSON,
VLMEvalKit TSV, lmms-eval parquet), all normalised to ``Sample`` (benchmarks.md sections 1.1, 1.5, 2).

Field names differ between layouts and are never mixed: in the JSON ``Category`` is the fine category,
in the tables ``category`` is ``"<Task>/<Subtask>"`` and ``l2-category`` the fine category.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

from awaker_eval.data.errors import DataError, row_error
from awaker_eval.data.images import file_image_ref, table_image_refs
from awaker_eval.data.options import checked_answer, is_missing, parse_labelled_options, parse_options_cell, \
    require_two_options
from awaker_eval.data.tables import describe, iter_rows
from awaker_eval.data.warnings import DataWarnings
from awaker_eval.data.taxonomy import MME_SUBTASKS, MME_TASKS, canonical_subtask, canonical_task
from awaker_eval.types import ImageRef, Sample

log = logging.getLogger(__name__)
KIND = "mme_realworld"

# Image column per tabular layout: Base64 JSON / TSV ``image``, lmms-eval parquet ``bytes``,
# a "localized" VLMEvalKit TSV ``image_path`` (files next to the TSV or under ``image_root``).
IMAGE_COLUMNS = ("image", "bytes", "image_path")


def _task_subtask(task_raw: Any, subtask_raw: Any, where: str, row: object) -> tuple[str, str]:
    task = canonical_task(task_raw)
    if task is None:
        raise row_error(where, row, f"unknown task {task_raw!r} (expected one of {list(MME_TASKS)})")
    subtask = canonical_subtask(subtask_raw)
    if subtask is None:
        raise row_error(where, row, f"unknown subtask {subtask_raw!r} (expected one of {list(MME_SUBTASKS)})")
    return task, subtask


def _text(value: Any, field: str, where: str, row: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise row_error(where, row, f"missing or empty {field!r}")
    return value


def load_official_json(
    json_path: str | Path, image_root: str | Path, benchmark: str, language: str,
    warnings: DataWarnings | None = None, allow_outside_paths: bool = False,
) -> list[Sample]:
    """The official ``MME_RealWorld(_CN).json`` with images under ``image_root`` (paths from ``Image``)."""
    where = str(json_path)
    warnings = warnings if warnings is not None else DataWarnings()
    try:
        rows = json.loads(Path(json_path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{where}: cannot read the MME-RealWorld JSON ({exc})") from exc
    if not isinstance(rows, list):
        raise DataError(f"{where}: expected a JSON list of items, got {type(rows).__name__}")
    root = Path(image_root).expanduser()
    if not root.is_dir():
        raise DataError(f"{where}: image folder {root} does not exist (set benchmark.image_root)")
    ids = [str(r.get("Question_id", "")) if isinstance(r, dict) else "" for r in rows]
    repeated = {k for k, n in Counter(ids).items() if n > 1}  # Question_id is never parsed, only made unique
    samples = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise row_error(where, i, f"expected an object, got {type(row).__name__}")
        qid = _text(row.get("Question_id"), "Question_id", where, i)
        sid = f"{qid}#{i}" if qid in repeated else qid
        label = f"{i} ({qid})"
        task, subtask = _task_subtask(row.get("Task"), row.get("Subtask"), where, label)
        choices = parse_labelled_options(row.get("Answer choices"), where, label, warnings.for_row(where, label, sid))
        require_two_options(choices, 0, where, label)
        image = _text(row.get("Image"), "Image", where, i)
        image_ref = file_image_ref(image, root, image, where, label, allow_outside_paths)
        extra = {"kind": KIND, "question_id": qid, "question_type": row.get("Question Type", row.get("Question type"))}
        extra.update({k: row[k] for k in ("Dataset", "Output") if k in row})
        samples.append(
            Sample(
                id=sid,
                benchmark=benchmark,
                language=language,
                question=_text(row.get("Text"), "Text", where, i),
                choices=choices,
                answer=checked_answer(row.get("Ground truth"), choices, True, where, label),
                images=(image_ref,),
                task=task,
                subtask=subtask,
                category=row.get("Category"),
                group=sid,
                cluster=image,
                extra=extra,
            )
        )
    missing = sum(not Path(s.images[0].path).is_file() for s in samples)
    if samples and missing == len(samples):
        raise DataError(f"{where}: none of the {missing} images exist under {root} (is benchmark.image_root right?)")
    if missing:
        log.warning("%s: %d of %d images are missing under %s; those samples will fail",
                    where, missing, len(samples), root)
    return samples


def _image_column(ds) -> str:
    for name in IMAGE_COLUMNS:
        if name in ds.column_names:
            return name
    raise DataError(f"{describe(ds)}: no image column (expected one of {list(IMAGE_COLUMNS)}; got {ds.column_names})")


def _int_index(value: Any, where: str, row: int) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise row_error(where, row, f"'index' {value!r} is not an integer") from None


def load_table(
    ds, benchmark: str, language: str, image_root: str | Path | None = None, where: str | None = None,
    warnings: DataWarnings | None = None, allow_outside_paths: bool = False,
) -> list[Sample]:
    """Base64 JSON, VLMEvalKit TSV or lmms-eval parquet rows (already opened as a memory-mapped table)."""
    where = where or describe(ds)
    warnings = warnings if warnings is not None else DataWarnings()
    image_col = _image_column(ds)
    rows = list(iter_rows(ds, skip=(image_col,)))
    indices = [_int_index(r.get("index"), where, i) for i, r in enumerate(rows)]
    dup = [k for k, n in Counter(indices).items() if n > 1]
    if dup:
        raise DataError(f"{where}: duplicated 'index' values {sorted(dup)[:10]}")
    if image_col == "image_path":
        base = Path(where)
        root = Path(image_root) if image_root else (base if base.is_dir() else base.parent)
        paths = ds["image_path"]
        images = [file_image_ref(str(idx), root, str(p), where, f"{i} (index {idx})", allow_outside_paths)
                  for i, (idx, p) in enumerate(zip(indices, paths))]
    else:
        images = table_image_refs(ds, image_col, indices, where)
    return [_table_sample(r, i, idx, img, where, benchmark, language, warnings) for i, (r, idx, img) in
            enumerate(zip(rows, indices, images))]


def _table_sample(
    row: dict[str, Any], i: int, index: int, image: ImageRef, where: str, benchmark: str, language: str,
    warnings: DataWarnings,
) -> Sample:
    label = f"{i} (index {index})"
    category = row.get("category")
    parts = category.split("/") if isinstance(category, str) else []
    if len(parts) < 2:
        raise row_error(where, label, f"'category' {category!r} is not '<Task>/<Subtask>'")
    task, subtask = _task_subtask(parts[0], parts[1], where, label)
    choices = parse_options_cell(row.get("multi-choice options"), where, label,
                                 warnings.for_row(where, label, str(index)))
    require_two_options(choices, 0, where, label)
    fine = row.get("l2-category")
    return Sample(
        id=str(index),
        benchmark=benchmark,
        language=language,
        question=_text(row.get("question"), "question", where, label),
        choices=choices,
        answer=checked_answer(row.get("answer"), choices, True, where, label),
        images=(image,),
        task=task,
        subtask=subtask,
        category=None if is_missing(fine) else str(fine),
        group=str(index),
        cluster=image.key,
        extra={"kind": KIND, "index": index, "category_raw": category},
    )
