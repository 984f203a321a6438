"""VLMEvalKit multiple-choice TSVs -> ``Sample`` (spec §8, §9): MMStar, AI2D_TEST or any MCQ TSV.

Columns: ``index``, ``question``, optional ``hint``, option columns ``A``..``Z`` (those present and not NaN, in
letter order), ``answer``, optional ``category``, ``l2-category`` or ``l2_category``, ``split``, and the image:
``image`` (base64; a cell of <= 64 characters is another row's ``index``) or ``image_path`` (a file relative to
``benchmark.image_root``, default the TSV's folder, never outside it). Cells are read as pandas reads them
(``None``, ``N/A``, ``NA``, ``null`` and empty cells are NaN), as VLMEvalKit does.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from awaker_eval.data.errors import DataError, row_error
from awaker_eval.data.images import file_image_ref, table_image_refs
from awaker_eval.data.options import is_missing
from awaker_eval.data.tables import describe, iter_rows
from awaker_eval.data.warnings import DataWarnings
from awaker_eval.tasks.vlmevalkit_mcq.rows import normalise_keys, question_options_answer, row_indices
from awaker_eval.types import ImageRef, Sample
from awaker_eval.data.fetch import check_md5, download, hf_cache
from awaker_eval.data.tables import TableSource, open_table

log = logging.getLogger(__name__)
KIND = "mcq"
# Official releases (spec §8): file name -> MD5, checked (warning only) whenever a file of that name is read.
PINNED_MD5 = {
    "MMStar.tsv": "e1ecd2140806c1b1bbf54b43372efb9e",
    "AI2D_TEST.tsv": "0f593e0d1c7df9a3d69bf1f947e71975",
}
EXTRA_COLUMNS = ("split", "source", "bench", "comment")


def _path_refs(rows: list[dict[str, Any]], indices: list[int], root: Path, where: str,
               allow_outside: bool) -> list[ImageRef]:
    """``image_path`` cells as file references, confined to ``root`` (``data.images.confined_path``)."""
    refs = []
    for i, (row, index) in enumerate(zip(rows, indices)):
        rel = row.get("image_path")
        if is_missing(rel) or not str(rel).strip():
            raise row_error(where, f"{i} (index {index})", "empty 'image_path'")
        refs.append(file_image_ref(str(rel), root, str(rel), where, f"{i} (index {index})", allow_outside))
    return refs


def _text(value: Any) -> str | None:
    return None if is_missing(value) else str(value)


def read_mcq_table(ds, benchmark: str, language: str, where: str | None = None,
                   image_root: str | None = None, warnings: DataWarnings | None = None,
                   pandas_na: bool = True, allow_outside_paths: bool = False) -> list[Sample]:
    """Samples of one MCQ table (already opened as a memory-mapped ``datasets`` table).

    ``pandas_na``: the option columns were read raw from a TSV (``tables.open_table``), so a cell upstream's
    pandas reads as NaN (``None``, ``N/A``...) is dropped here as VLMEvalKit drops it, and reported."""
    where = where or describe(ds)
    warnings = warnings if warnings is not None else DataWarnings()
    rows = [normalise_keys(r) for r in iter_rows(ds, skip=("image",))]
    if not rows:
        raise DataError(f"{where}: no rows")
    if "answer" not in rows[0]:
        raise row_error(where, 0, f"no 'answer' column (columns: {sorted(rows[0])}); multiple-choice TSVs are "
                                  "scored locally and need the ground-truth letters")
    indices = row_indices(rows, where)
    if "image" in ds.column_names:
        images = table_image_refs(ds, "image", indices, where)
    elif "image_path" in rows[0]:
        images = _path_refs(rows, indices, Path(image_root) if image_root else Path(where).parent, where,
                            allow_outside_paths)
    else:
        raise DataError(f"{where}: no 'image' or 'image_path' column (columns: {ds.column_names})")
    samples = []
    for i, (row, index, image) in enumerate(zip(rows, indices, images)):
        label = f"{i} (index {index})"
        question, choices, _, answer = question_options_answer(row, where, label, index, warnings, pandas_na, True)
        l2 = row.get("l2-category", row.get("l2_category"))
        extra: dict[str, Any] = {"kind": KIND, "index": index}
        extra.update({k: str(row[k]) for k in EXTRA_COLUMNS if k in row and not is_missing(row[k])})
        samples.append(Sample(
            id=str(index), benchmark=benchmark, language=language, question=question, choices=choices,
            answer=answer, images=(image,), hint=_text(row.get("hint")), category=_text(row.get("category")),
            l2_category=_text(l2), group=str(index), cluster=image.key, extra=extra,
        ))
    return samples


def load_mcq(cfg, warnings: DataWarnings | None = None) -> list[Sample]:
    """``benchmark.source`` (local TSV or URL, downloaded once; official files MD5-checked) -> samples."""
    if not cfg.source:
        raise DataError("benchmark.source is required for a multiple-choice TSV benchmark: set it to the "
                        "VLMEvalKit TSV (local file or URL)")
    path = download(cfg.source, cfg)
    if Path(path).name in PINNED_MD5:
        check_md5(path, PINNED_MD5[Path(path).name])
    suffix = None if Path(path).suffix.lower() in (".tsv", ".csv") else ".tsv"
    ds = open_table(TableSource(path, cfg.revision, cache_dir=hf_cache(cfg), suffix=suffix))  # DataError naming it
    return read_mcq_table(ds, cfg.name, cfg.language, path, cfg.image_root, warnings,
                          allow_outside_paths=cfg.allow_outside_paths)
