"""VLMEvalKit multiple-choice TSVs -> ``Sample`` (spec §8, §9): MMStar, AI2D_TEST or any MCQ TSV.

Columns: ``index``, ``question``, optional ``hint``, option columns ``A``..``Z`` (those present and not NaN, in
letter order), ``answer``, optional ``category``, ``l2-category`` or ``l2_category``, ``split``, and the image:
``image`` (base64; a cell of <= 64 characters is another row's ``index``) or ``image_path`` (a file relative to
``benchmark.image_root``, default the TSV's folder, never outside it). Cells are read as pandas reads them
(``None``, ``N/A``, ``NA``, ``null`` and empty cells are NaN), as VLMEvalKit does.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

from awaker_eval.data.errors import DataError, row_error
from awaker_eval.data.images import file_image_ref, table_image_refs
from awaker_eval.data.mmbench import _normalise_keys
from awaker_eval.data.options import checked_answer, choices_from_columns, is_missing
from awaker_eval.data.tables import describe, iter_rows
from awaker_eval.types import ImageRef, Sample

log = logging.getLogger(__name__)
KIND = "mcq"
ANSWER_ON_MISSING_OPTION = "answer on a missing (NaN) option: can never be right (VLMEvalKit)"
# Official releases (spec §8): file name -> MD5, checked (warning only) whenever a file of that name is read.
PINNED_MD5 = {
    "MMStar.tsv": "e1ecd2140806c1b1bbf54b43372efb9e",
    "AI2D_TEST.tsv": "0f593e0d1c7df9a3d69bf1f947e71975",
}
EXTRA_COLUMNS = ("split", "source", "bench", "comment")


def _indices(rows: list[dict[str, Any]], where: str) -> list[int]:
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


def _path_refs(rows: list[dict[str, Any]], indices: list[int], root: Path, where: str) -> list[ImageRef]:
    """``image_path`` cells as file references, confined to ``root`` (no absolute paths, no ``..`` escape)."""
    base = root.expanduser().resolve()
    refs = []
    for i, (row, index) in enumerate(zip(rows, indices)):
        rel = row.get("image_path")
        if is_missing(rel) or not str(rel).strip():
            raise row_error(where, f"{i} (index {index})", "empty 'image_path'")
        if not (base / str(rel)).resolve().is_relative_to(base):
            raise row_error(where, f"{i} (index {index})", f"image_path {rel!r} points outside the data folder {base}")
        refs.append(file_image_ref(str(rel), base, str(rel)))
    return refs


def _answer(row: dict[str, Any], choices, where: str, label: str) -> tuple[str, bool]:
    """The answer letter; an answer on an option cell pandas read as NaN is kept (flagged), as upstream."""
    raw = row.get("answer")
    letter = None if is_missing(raw) else str(raw).strip()
    if letter and letter not in {c.letter for c in choices} and letter in row and is_missing(row[letter]):
        return letter, True
    return checked_answer(raw, choices, True, where, label), False


def _text(value: Any) -> str | None:
    return None if is_missing(value) else str(value)


def read_mcq_table(ds, benchmark: str, language: str, where: str | None = None,
                   image_root: str | None = None) -> list[Sample]:
    """Samples of one MCQ table (already opened as a memory-mapped ``datasets`` table)."""
    where = where or describe(ds)
    rows = [_normalise_keys(r) for r in iter_rows(ds, skip=("image",))]
    if not rows:
        raise DataError(f"{where}: no rows")
    if "answer" not in rows[0]:
        raise row_error(where, 0, f"no 'answer' column (columns: {sorted(rows[0])}); multiple-choice TSVs are "
                                  "scored locally and need the ground-truth letters")
    indices = _indices(rows, where)
    if "image" in ds.column_names:
        images = table_image_refs(ds, "image", indices, where)
    elif "image_path" in rows[0]:
        images = _path_refs(rows, indices, Path(image_root) if image_root else Path(where).parent, where)
    else:
        raise DataError(f"{where}: no 'image' or 'image_path' column (columns: {ds.column_names})")
    samples, flagged = [], 0
    for i, (row, index, image) in enumerate(zip(rows, indices, images)):
        label = f"{i} (index {index})"
        question = row.get("question")
        if not isinstance(question, str) or not question.strip():
            raise row_error(where, label, "missing or empty 'question'")
        choices = choices_from_columns(row, where, label)
        answer, odd = _answer(row, choices, where, label)
        flagged += odd
        l2 = row.get("l2-category", row.get("l2_category"))
        extra: dict[str, Any] = {"kind": KIND, "index": index}
        extra.update({k: str(row[k]) for k in EXTRA_COLUMNS if k in row and not is_missing(row[k])})
        if odd:
            extra["data_warning"] = ANSWER_ON_MISSING_OPTION
        samples.append(Sample(
            id=str(index), benchmark=benchmark, language=language, question=question, choices=choices,
            answer=answer, images=(image,), hint=_text(row.get("hint")), category=_text(row.get("category")),
            l2_category=_text(l2), group=str(index), cluster=image.key, extra=extra,
        ))
    if flagged:
        log.warning("%s: %d row(s) with the %s", where, flagged, ANSWER_ON_MISSING_OPTION)
    return samples


def load_mcq(cfg) -> list[Sample]:
    """``benchmark.source`` (local TSV or URL, downloaded once; official files MD5-checked) -> samples."""
    from awaker_eval.data.registry import _check_md5, _download, _hf_cache, limited
    from awaker_eval.data.tables import TableSource, open_table

    if not cfg.source:
        raise DataError("benchmark.source is required for a multiple-choice TSV benchmark: set it to the "
                        "VLMEvalKit TSV (local file or URL)")
    path = _download(cfg.source, cfg)
    if Path(path).name in PINNED_MD5:
        _check_md5(path, PINNED_MD5[Path(path).name])
    suffix = None if Path(path).suffix.lower() in (".tsv", ".csv") else ".tsv"
    try:
        ds = open_table(TableSource(path, cfg.revision, cache_dir=_hf_cache(cfg), suffix=suffix))
    except DataError:
        raise
    except Exception as exc:  # pandas / datasets parse errors of many types: one line naming the file
        raise DataError(f"{path}: cannot read as a VLMEvalKit TSV ({type(exc).__name__}: "
                        f"{' '.join(str(exc).split())[:300]})") from exc
    samples = read_mcq_table(ds, cfg.name, cfg.language, path, cfg.image_root)
    return limited(samples, cfg.limit)
