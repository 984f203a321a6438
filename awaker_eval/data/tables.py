"""Tabular benchmark files through HF ``datasets``: local files, URLs or hub ids -> a memory-mapped table.

``datasets`` converts JSON / TSV / parquet once into an arrow cache and memory-maps it, so a 35 GB
Base64 release is never held in RAM; rows are read one at a time (``ArrowImage``) when an image is needed.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc

from awaker_eval.data.errors import DataError
from awaker_eval.data.options import NA_WORDS, OPTION_LETTERS
from awaker_eval.types import ImageLoadError

_BUILDER_BY_SUFFIX = {".json": "json", ".jsonl": "json", ".tsv": "csv", ".csv": "csv", ".parquet": "parquet"}


@dataclass(frozen=True)
class TableSource:
    """Where a table comes from: a local file / folder / URL (``datasets`` packaged builder) or a hub id."""

    source: str
    revision: str | None = None
    data_files: Any = None  # file name(s) or glob(s); relative to a local folder or inside the hub repo
    config_name: str | None = None  # hub dataset config (``en`` / ``cn`` for lmms-lab/MMBench)
    split: str = "train"
    cache_dir: str | None = None
    suffix: str | None = None  # file format when the name does not tell (e.g. ".tsv" for a cached download)

    @property
    def is_remote_file(self) -> bool:
        return self.source.startswith(("http://", "https://"))


def _local_files(src: TableSource) -> list[str]:
    root = Path(src.source).expanduser()
    if root.is_file():
        return [str(root)]
    patterns = src.data_files or ["*"]
    patterns = [patterns] if isinstance(patterns, str) else list(patterns)
    files = sorted({str(p) for pat in patterns for p in root.glob(pat) if p.suffix in _BUILDER_BY_SUFFIX})
    if not files:
        raise DataError(f"{root}: no .json/.jsonl/.tsv/.csv/.parquet files match {patterns}")
    return files


def _builder_kwargs(files: list[str], where: str, suffix: str | None) -> tuple[str, dict[str, Any]]:
    suffixes = {suffix} if suffix else {Path(f.split("?")[0]).suffix.lower() for f in files}
    builders = {_BUILDER_BY_SUFFIX.get(s) for s in suffixes}
    if len(builders) != 1 or None in builders:
        raise DataError(f"{where}: cannot tell the file format from suffixes {sorted(suffixes)}")
    builder = builders.pop()
    kwargs: dict[str, Any] = {}
    if builder == "csv":
        # Every column as text (pandas' default NaN handling kept, as VLMEvalKit reads these files):
        # no per-chunk type guessing, ``index`` is cast to int by the loader.
        import datasets
        import pandas as pd

        sep = "\t" if ".tsv" in suffixes else ","
        columns = pd.read_csv(files[0], sep=sep, nrows=0).columns
        kwargs = {"delimiter": sep, "features": datasets.Features({c: datasets.Value("string") for c in columns}),
                  **_na_settings(columns)}
    return builder, kwargs


def _na_settings(columns) -> dict[str, Any]:
    """pandas' default NaN cells everywhere except the option columns ``A``..``Z``, where only an empty cell is
    missing: a ``None`` / ``N/A`` option text reaches the loader, which drops and reports it as upstream does."""
    options = set(OPTION_LETTERS)
    na_values = {c: [""] if c in options else sorted(NA_WORDS | {""}) for c in columns}
    return {"keep_default_na": False, "na_values": na_values}


def open_table(src: TableSource):
    """A memory-mapped ``datasets.Dataset`` for ``src`` (downloads go to the HF cache / ``cache_dir``)."""
    import datasets

    if src.is_remote_file or Path(src.source).expanduser().exists():
        files = [src.source] if src.is_remote_file else _local_files(src)
        try:
            builder, kwargs = _builder_kwargs(files, src.source, src.suffix)
            ds = datasets.load_dataset(builder, data_files=files, split="train", cache_dir=src.cache_dir, **kwargs)
        except DataError:
            raise
        except Exception as exc:  # empty, non-UTF-8 or malformed file: one sentence naming it and the root cause
            root = exc
            while root.__cause__ is not None:
                root = root.__cause__
            raise DataError(f"{src.source}: cannot read the table ({type(root).__name__}: {root}); the file must be "
                            "a non-empty UTF-8 file in the format its suffix names") from exc
    else:
        try:
            ds = datasets.load_dataset(
                src.source,
                name=src.config_name,
                revision=src.revision,
                data_files=src.data_files,
                split=src.split,
                cache_dir=src.cache_dir,
            )
        except Exception as exc:  # hub / network / missing split: one sentence naming the source
            raise DataError(
                f"cannot load {src.source!r} (revision {src.revision}, config {src.config_name}, split "
                f"{src.split}): {type(exc).__name__}: {exc}. Point benchmark.source at a local file or folder "
                f"if the hub is unreachable."
            ) from exc
    if ds._indices is not None:  # row positions below must be physical arrow rows
        ds = ds.flatten_indices()
    return ds


def describe(ds) -> str:
    """The files behind a loaded table, for error messages."""
    files = [f["filename"] for f in ds.cache_files]
    return files[0] if len(files) == 1 else f"{files[0]} (+{len(files) - 1} more)" if files else "<in-memory table>"


def iter_rows(ds, skip: tuple[str, ...] = ()) -> Iterator[dict[str, Any]]:
    """Rows as dicts without the (large) columns in ``skip``; nothing image-sized is materialised."""
    keep = [c for c in ds.column_names if c not in skip]
    for batch in ds.select_columns(keep).iter(batch_size=2048):
        n = len(batch[keep[0]]) if keep else 0
        for i in range(n):
            yield {c: batch[c][i] for c in keep}


def short_string_rows(ds, column: str, max_chars: int) -> dict[int, str]:
    """``{row: value}`` for the rows whose string in ``column`` has at most ``max_chars`` bytes
    (MMBench image references); lengths come from arrow offsets, the long values are never read."""
    if hasattr(ds, "short_string_rows"):  # parquet_inplace.ParquetTable: row group by row group
        return ds.short_string_rows(column, max_chars)
    col = ds.data.column(column)
    lengths = pc.fill_null(pc.binary_length(col), max_chars + 1).to_numpy(zero_copy_only=False)
    rows = np.nonzero(lengths <= max_chars)[0]
    return {int(r): col[int(r)].as_py() for r in rows}


@dataclass(frozen=True)
class ArrowImage:
    """Picklable loader of one image cell: base64 text or a ``datasets.Image`` struct (bytes / path).

    Holds the memory-mapped dataset (it pickles as a file reference, not as data) and a row number."""

    dataset: Any
    row: int
    column: str
    source: str = ""  # the user's file / hub id, for messages

    def __call__(self) -> bytes:
        where = f"{self.source or describe(self.dataset)}, row {self.row}, column {self.column!r}"
        value = self.dataset.data.column(self.column)[self.row].as_py()
        if isinstance(value, dict):  # datasets.Image(decode=False) storage
            if value.get("bytes"):
                return value["bytes"]
            if value.get("path"):
                try:
                    return Path(value["path"]).read_bytes()
                except OSError as exc:
                    raise ImageLoadError(f"{where}: cannot read {value['path']} ({exc})") from exc
            raise ImageLoadError(f"{where}: empty image")
        if isinstance(value, bytes):
            return value
        if not isinstance(value, str) or not value:
            raise ImageLoadError(f"{where}: no image data")
        try:
            return base64.b64decode(value, validate=False)
        except (binascii.Error, ValueError) as exc:
            raise ImageLoadError(f"{where}: undecodable base64 ({exc})") from exc
