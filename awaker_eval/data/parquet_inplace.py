"""Parquet shards read where they were downloaded: no arrow cache, no second copy of a 31 GB dataset.

``datasets.load_dataset`` converts parquet into an arrow cache of about the same size beside the download (issue 11
item 5: 30.9 GB of parquet + 34.9 GB of arrow for MME-RealWorld EN). ``ParquetTable`` instead keeps only the
files' footers: small columns are read column-wise when the loader asks for them, and an image cell is read from
its row group (one column, memory-mapped, decoded a small batch at a time up to that row) when a worker decodes
that sample; the most recently read batches are kept per process (bounded by ``cache_bytes``). It offers the few
``datasets.Dataset`` members the table loaders use (``column_names``, ``features``, ``select_columns(...).iter``,
``ds[column]``, ``data.column(c)[row]``, ``cache_files``) and pickles as file paths, so DataLoader workers reopen
the files themselves.
"""

from __future__ import annotations

import bisect
import re
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from awaker_eval.data.errors import DataError

DEFAULT_CACHE_BYTES = 256 << 20  # decoded batches kept per process (each DataLoader worker has its own)
BATCH_ROWS = 16  # rows decoded at a time: ~20 MB of MME-RealWorld base64 images


class _Columns:
    """``table.data`` stand-in: ``data.column(name)[row]`` reads one cell (a pyarrow scalar, ``.as_py()``)."""

    def __init__(self, table: ParquetTable):
        self._table = table

    def column(self, name: str) -> _LazyColumn:
        return _LazyColumn(self._table, name)


class _LazyColumn:
    def __init__(self, table: ParquetTable, name: str):
        self._table, self._name = table, name

    def __getitem__(self, row: int) -> pa.Scalar:
        return self._table.cell(int(row), self._name)


class ParquetTable:
    """Random access by row over parquet files read in place (see the module docstring)."""

    def __init__(self, files: Sequence[str | Path], columns: Sequence[str] | None = None,
                 cache_bytes: int = DEFAULT_CACHE_BYTES):
        self.files = [str(f) for f in files]
        if not self.files:
            raise DataError("no parquet files to read")
        self.cache_bytes = cache_bytes
        self._open: dict[int, pq.ParquetFile] = {}
        self._cache: OrderedDict[tuple[int, int, int, str], pa.Array] = OrderedDict()
        schema, starts = None, []  # starts: first global row of each (file, row group)
        self._groups: list[tuple[int, int]] = []
        total = 0
        for f_i, path in enumerate(self.files):
            meta = self._file(f_i).metadata
            file_schema = self._file(f_i).schema_arrow
            if schema is None:
                schema = file_schema
            elif not file_schema.equals(schema):
                raise DataError(f"{path}: columns {file_schema.names} differ from {self.files[0]}'s {schema.names}")
            for g in range(meta.num_row_groups):
                starts.append(total)
                self._groups.append((f_i, g))
                total += meta.row_group(g).num_rows
        self._starts = starts
        self.num_rows = total
        self.schema = schema
        self.column_names = list(columns) if columns is not None else list(schema.names)
        missing = [c for c in self.column_names if c not in schema.names]
        if missing:
            raise DataError(f"{self.files[0]}: no column(s) {missing}; columns: {schema.names}")

    # -- pickling: file paths only (workers reopen the files) ---------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_open"], state["_cache"] = {}, OrderedDict()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def _file(self, f_i: int) -> pq.ParquetFile:
        if f_i not in self._open:
            try:
                self._open[f_i] = pq.ParquetFile(self.files[f_i], memory_map=True)
            except (OSError, pa.ArrowException) as exc:
                raise DataError(f"{self.files[f_i]}: not a readable parquet file ({exc})") from exc
        return self._open[f_i]

    # -- the datasets.Dataset members the loaders use -----------------------------------------------------
    def __len__(self) -> int:
        return self.num_rows

    @property
    def features(self):
        import datasets

        return datasets.Features.from_arrow_schema(pa.schema([self.schema.field(c) for c in self.column_names]))

    @property
    def data(self) -> _Columns:
        return _Columns(self)

    @property
    def cache_files(self) -> list[dict[str, str]]:
        return [{"filename": f} for f in self.files]

    @property
    def disk_bytes(self) -> int:
        return sum(Path(f).stat().st_size for f in self.files)

    def select_columns(self, columns: Sequence[str]) -> ParquetTable:
        view = object.__new__(ParquetTable)
        view.__dict__.update(self.__getstate__())
        view.column_names = list(columns)
        return view

    def iter(self, batch_size: int) -> Iterator[dict[str, list[Any]]]:
        """Batches of ``column_names`` in row order, one row group at a time (bounded memory)."""
        for f_i in range(len(self.files)):
            for batch in self._file(f_i).iter_batches(batch_size=batch_size, columns=self.column_names):
                yield batch.to_pydict()

    def __getitem__(self, column: str) -> list[Any]:
        return self.column(column).to_pylist()

    def column(self, name: str) -> pa.ChunkedArray:
        """A whole (small) column, file by file."""
        return pa.chunked_array([self._file(f).read(columns=[name]).column(0) for f in range(len(self.files))])

    # -- random access --------------------------------------------------------------------------------------
    def locate(self, row: int) -> tuple[int, int, int]:
        """(file, row group, offset in the group) of global ``row``."""
        if not 0 <= row < self.num_rows:
            raise IndexError(f"row {row} is outside {self.num_rows} rows of {self.files[0]}")
        k = bisect.bisect_right(self._starts, row) - 1
        f_i, g = self._groups[k]
        return f_i, g, row - self._starts[k]

    def cell(self, row: int, column: str) -> pa.Scalar:
        """One cell: its row group is decoded batch by batch (``BATCH_ROWS`` rows) up to the batch holding it,
        so memory stays at one batch, not one row group; recent batches are kept (row-order reads hit them)."""
        f_i, g, offset = self.locate(row)
        start = offset - offset % BATCH_ROWS
        key = (f_i, g, start, column)
        values = self._cache.get(key)
        if values is None:
            batches = self._file(f_i).iter_batches(batch_size=BATCH_ROWS, row_groups=[g], columns=[column])
            for k, batch in enumerate(batches):
                if k * BATCH_ROWS == start:
                    values = batch.column(0)
                    break
            self._cache[key] = values
            while len(self._cache) > 1 and sum(v.nbytes for v in self._cache.values()) > self.cache_bytes:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return values[offset - start]

    def short_string_rows(self, column: str, max_chars: int) -> dict[int, str]:
        """``{row: value}`` for rows whose string in ``column`` has at most ``max_chars`` bytes, streamed in
        batches (what ``tables.short_string_rows`` computes for a loaded table)."""
        found: dict[int, str] = {}
        row = 0
        for f_i in range(len(self.files)):
            for batch in self._file(f_i).iter_batches(batch_size=BATCH_ROWS, columns=[column]):
                col = batch.column(0)
                lengths = pc.fill_null(pc.binary_length(col), max_chars + 1).to_numpy(zero_copy_only=False)
                for r in np.nonzero(lengths <= max_chars)[0]:
                    found[row + int(r)] = col[int(r)].as_py()
                row += len(col)
        return found


_TRAIN = re.compile(r"(^|[-._ /0-9])train([-._ /0-9]|$)")
_OTHER_SPLITS = re.compile(r"(^|[-._ /0-9])(test|validation|valid|val|dev|eval)([-._ /0-9]|$)")


def parquet_files(
    folder: str | Path, patterns: str | Sequence[str] | None = None, recursive: bool = False
) -> list[str]:
    """The parquet files under ``folder`` matching ``patterns`` (default: the folder's own files, or all of them
    with ``recursive``), sorted by path (the order ``datasets`` reads them in)."""
    root = Path(folder).expanduser()
    if root.is_file():
        return [str(root)]
    pats = ([("**/*" if recursive else "*")] if patterns is None
            else [patterns] if isinstance(patterns, str) else list(patterns))
    files = sorted({str(p) for pat in pats for p in root.glob(pat) if p.suffix == ".parquet" and p.is_file()})
    if not files:
        raise DataError(f"{root}: no .parquet files match {pats}")
    return files


def train_split(files: list[str], root: str | Path) -> list[str]:
    """The hub files ``datasets`` would put in split ``train``: those named for it when any file is named for a
    split, else all of them; files named only for other splits are an error (set benchmark.data_files)."""
    rel = {f: Path(f).relative_to(root).as_posix().lower() for f in files}
    train = [f for f in files if _TRAIN.search(rel[f])]
    if train:
        return train
    if any(_OTHER_SPLITS.search(r) for r in rel.values()):
        raise DataError(f"{root}: no parquet file is named for split 'train' ({[rel[f] for f in files][:5]}); "
                        f"set benchmark.data_files to the files to read")
    return files


def open_parquet_inplace(source: str, revision: str | None = None, data_files: Any = None,
                         cache_dir: str | None = None) -> ParquetTable:
    """A ``ParquetTable`` over a local parquet file / folder, or over a hub dataset's parquet files (split
    ``train``) fetched into the hub cache (``snapshot_download``: resumable, reused offline, nothing converted)."""
    local = Path(source).expanduser()
    if local.exists():
        return ParquetTable(parquet_files(local, data_files))
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(source, repo_type="dataset", revision=revision, cache_dir=cache_dir,
                                   allow_patterns=data_files or ["*.parquet", "**/*.parquet"])
    except Exception as exc:  # hub / network / unknown revision: one sentence naming the source
        raise DataError(f"cannot load {source!r} (revision {revision}, parquet files): {type(exc).__name__}: "
                        f"{exc}. Point benchmark.source at a local file or folder if the hub is unreachable, or "
                        f"run `awaker-eval prepare` online first.") from exc
    files = parquet_files(folder, data_files, recursive=True)
    return ParquetTable(files if data_files else train_split(files, folder))
