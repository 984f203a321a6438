"""Lazy image references for every layout, and per-sample decoding that names the sample on failure."""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image

from awaker_eval.data.errors import DataError, row_error
from awaker_eval.data.tables import ArrowImage, describe, short_string_rows
from awaker_eval.types import ImageLoadError, ImageRef, Sample

# VLMEvalKit convention: an ``image`` cell of at most 64 characters holds the index of the row whose image
# to use (MMBench circular copies share their question's image this way).
MAX_REFERENCE_CHARS = 64


def file_image_ref(key: str, root: str | Path, relative: str, where: str = "", row: object = None,
                   allow_outside: bool = False) -> ImageRef:
    """A file on disk, confined to ``root``; a missing file surfaces as ``ImageLoadError`` when loaded."""
    return ImageRef(key=key, path=str(confined_path(root, relative, where, row, allow_outside)))


def confined_path(root: str | Path, relative: str, where: str, row: object, allow_outside: bool = False) -> Path:
    """``root / relative``, refused (``DataError`` naming file and row) when ``..`` or an absolute path leads
    outside ``root`` unless ``allow_outside`` (``benchmark.allow_outside_paths``). The check is lexical: links
    placed inside the data folder by its owner are followed."""
    try:
        base = Path(os.path.abspath(Path(root).expanduser()))
        path = Path(os.path.normpath(base / Path(relative).expanduser()))
    except (ValueError, RuntimeError) as exc:  # an embedded NUL byte, an unknown ~user
        raise row_error(where, row, f"image path {relative!r} is not a usable path ({exc})") from None
    if not allow_outside and not path.is_relative_to(base):
        raise row_error(where, row, f"image path {relative!r} resolves to {path}, outside the image folder {base} "
                                    "(set benchmark.allow_outside_paths=true to allow it)")
    return Path(root).expanduser() / relative


def table_image_refs(ds, column: str, indices: list[int], where: str | None = None) -> list[ImageRef]:
    """One lazy ``ImageRef`` per table row, resolving index references; key = index of the row holding
    the pixels, so every question sharing an image gets the same key."""
    where = where or describe(ds)
    if column not in ds.column_names:
        raise DataError(f"{where}: no image column {column!r} (columns: {ds.column_names})")
    row_of_index = {idx: row for row, idx in enumerate(indices)}
    target = list(range(len(indices)))
    is_text = getattr(ds.features[column], "dtype", None) in ("string", "large_string")
    refs = short_string_rows(ds, column, MAX_REFERENCE_CHARS) if is_text else {}
    for row, value in refs.items():
        try:
            target[row] = row_of_index[int(str(value).strip())]
        except (ValueError, KeyError):
            raise DataError(
                f"{where}, row {row} (index {indices[row]}): image cell {value!r} is neither an image nor the "
                f"index of another row"
            ) from None
    return [ImageRef(key=str(indices[t]), loader=ArrowImage(ds, t, column, where)) for t in target]


def load_images(sample: Sample) -> list[Image.Image]:
    """Decode all images of ``sample`` as RGB; an ``ImageLoadError`` names the sample and the source."""
    images = []
    for ref in sample.images:
        try:
            images.append(ref.load())
        except ImageLoadError as exc:
            raise ImageLoadError(f"sample {sample.id!r} of {sample.benchmark}: {exc}") from exc
    return images
