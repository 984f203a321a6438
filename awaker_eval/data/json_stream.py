"""Multi-GB JSON arrays (the MME-RealWorld Base64 release: one 2-4+ GiB array per file) streamed into a
memory-mapped arrow table, with bounded memory.

``datasets``' json builder parses a whole array into one block, and pyarrow overflows its 2 GiB string offsets
on these files. Here ``json.JSONDecoder.raw_decode`` reads one element at a time from a buffered file and
elements are written in record batches of at most ``block_bytes`` (so no arrow block comes near 2 GiB) into
one arrow stream file, cached by the files' paths, sizes and mtimes and memory-mapped with
``datasets.Dataset.from_file``: the same kind of table every other layout gives the loaders.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from awaker_eval.data.errors import DataError

DEFAULT_BLOCK_BYTES = 64 << 20  # payload per record batch; far below arrow's 2 GiB per-block string limit
READ_BYTES = 16 << 20  # file read size; a longer element makes the buffer grow (doubling)
MAX_ELEMENT_BYTES = 1 << 30  # one element larger than this is a broken file, not an image
FORMAT_VERSION = 1  # bump when the conversion below changes, so cached tables are rebuilt
_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


class _Buffer:
    """A text window over a UTF-8 file that grows on demand and forgets what was consumed."""

    def __init__(self, fh, read_bytes: int):
        self.fh, self.read_bytes = fh, read_bytes
        self.decode = codecs.getincrementaldecoder("utf-8-sig")()  # a byte-order mark is skipped
        self.text, self.pos, self.eof = "", 0, False

    def more(self, at_least: int = 0) -> None:
        if self.pos:
            self.text, self.pos = self.text[self.pos:], 0
        want = max(self.read_bytes, at_least)
        while want > 0 and not self.eof:
            raw = self.fh.read(want)
            self.eof = not raw
            self.text += self.decode.decode(raw, final=self.eof)
            want -= len(raw)

    def skip_ws(self) -> str:
        """The next non-whitespace character ('' at the end of the file)."""
        while True:
            self.pos = _WS.match(self.text, self.pos).end()
            if self.pos < len(self.text) or self.eof:
                return self.text[self.pos:self.pos + 1]
            self.more()


def iter_json_array(path: str | Path, read_bytes: int | None = None, max_element_bytes: int | None = None
                    ) -> Iterator[Any]:
    """The elements of the JSON array in ``path``, one at a time; errors name the file and the element.
    Defaults: ``READ_BYTES`` / ``MAX_ELEMENT_BYTES`` (read when called, so a test can lower them)."""
    read_bytes = read_bytes or READ_BYTES
    max_element_bytes = max_element_bytes or MAX_ELEMENT_BYTES
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc})") from exc
    with fh:
        buf = _Buffer(fh, read_bytes)
        try:
            if buf.skip_ws() != "[":
                raise DataError(f"{path}: not a JSON array (the Base64 release is one array of objects per file)")
            buf.pos += 1
            if buf.skip_ws() == "]":
                buf.pos += 1
            else:
                yield from _elements(buf, path, max_element_bytes)
            if buf.skip_ws() != "":
                raise DataError(f"{path}: unexpected data after the end of the JSON array")
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not UTF-8 text ({exc})") from None


def _elements(buf: _Buffer, path: str | Path, max_element_bytes: int) -> Iterator[Any]:
    n = 0
    while True:
        buf.skip_ws()
        try:
            value, end = _DECODER.raw_decode(buf.text, buf.pos)
            # a number cut at the window's edge would parse short: complete only with a character after it
            problem = None if end < len(buf.text) or buf.eof else "cut at the end of the read window"
        except json.JSONDecodeError as exc:
            if buf.eof:
                raise DataError(f"{path}: element {n} of the JSON array is not valid JSON ({exc.msg})") from None
            problem = exc.msg
        if problem is not None:
            if len(buf.text) - buf.pos > max_element_bytes:
                raise DataError(f"{path}: element {n} of the JSON array does not parse within "
                                f"{max_element_bytes:,} characters ({problem})")
            buf.more(at_least=len(buf.text) - buf.pos)  # double the window: linear time for long elements
            continue
        yield value
        n += 1
        buf.pos = end
        sep = buf.skip_ws()
        if sep == "]":
            buf.pos += 1
            return
        if sep != ",":
            raise DataError(f"{path}: expected ',' or ']' after element {n - 1} of the JSON array, got {sep!r}")
        buf.pos += 1


def _arrow_type(value: Any) -> pa.DataType:
    if isinstance(value, bool):
        return pa.bool_()
    if isinstance(value, int):
        return pa.int64()
    if isinstance(value, float):
        return pa.float64()
    if isinstance(value, list):
        return pa.list_(pa.string())
    return pa.string()  # str, None, nested objects (kept as JSON text)


def _cell(value: Any, kind: pa.DataType, where: str, key: str) -> Any:
    """``value`` as column type ``kind``; a value that cannot be one is an error naming element and key."""
    if value is None:
        return None
    if kind == pa.string():
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if kind == pa.list_(pa.string()) and isinstance(value, list):
        return [x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in value]
    if kind == pa.int64() and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == pa.float64() and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind == pa.bool_() and isinstance(value, bool):
        return value
    raise DataError(f"{where}: {key!r} is {value!r:.100} but the first element's {key!r} is of type {kind}")


def _size(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return sum(len(x) if isinstance(x, str) else 8 for x in value)
    return 8


def write_arrow(files: Sequence[str | Path], out: str | Path, block_bytes: int | None = None) -> int:
    """Stream the arrays of ``files`` (in order) into one arrow stream file; returns the number of rows.
    Columns and types come from the first element; every element must be an object with those keys (a
    missing key is null). ``block_bytes`` defaults to ``DEFAULT_BLOCK_BYTES`` (read when called)."""
    block_bytes = block_bytes or DEFAULT_BLOCK_BYTES
    schema: pa.Schema | None = None
    writer = None
    columns: dict[str, list] = {}
    pending = rows = 0

    def flush() -> None:
        nonlocal pending
        if rows and pending:
            writer.write_batch(pa.record_batch([pa.array(columns[f.name], f.type) for f in schema], schema=schema))
            for col in columns.values():
                col.clear()
        pending = 0

    try:
        for path in files:
            for n, element in enumerate(iter_json_array(path)):
                where = f"{path}, element {n}"
                if not isinstance(element, dict):
                    raise DataError(f"{where}: expected an object, got {type(element).__name__}")
                if schema is None:
                    schema = pa.schema([(k, _arrow_type(v)) for k, v in element.items()])
                    columns = {k: [] for k in schema.names}
                    writer = pa.ipc.new_stream(str(out), schema)
                unknown = [k for k in element if k not in columns]
                if unknown:
                    raise DataError(f"{where}: key(s) {unknown} not in the first element's keys {schema.names}")
                for f in schema:
                    value = element.get(f.name)
                    columns[f.name].append(_cell(value, f.type, where, f.name))
                    pending += _size(value)
                rows += 1
                if pending >= block_bytes:
                    flush()
        if schema is None:
            raise DataError(f"{files[0] if files else '<no files>'}: the JSON array(s) hold no items")
        flush()
    finally:
        if writer is not None:
            writer.close()
    return rows


def cache_key(files: Sequence[str | Path]) -> str:
    """Identity of the input files (absolute path, size, mtime) and of this converter."""
    parts = [FORMAT_VERSION]
    for f in files:
        st = os.stat(f)
        parts.append([os.path.abspath(f), st.st_size, st.st_mtime_ns])
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:24]


def open_json_arrays(files: Sequence[str | Path], cache_dir: str | Path, block_bytes: int | None = None):
    """A memory-mapped ``datasets.Dataset`` of the arrays in ``files``, converted once into ``cache_dir``."""
    import datasets

    target = Path(cache_dir).expanduser() / f"json_arrays-{cache_key(files)}.arrow"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
        try:
            write_arrow(files, tmp, block_bytes)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    return datasets.Dataset.from_file(str(target))
