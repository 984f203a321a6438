"""Whole-file writes that readers never see half done, and that two writers never share a temp file for.

The temp file is created with mode 0666 less the process umask, as ``open()`` creates files (``mkstemp`` would
make it 0600 whatever the umask, so teammates on a shared results directory could not read the results).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Iterable

_TRIES = 100  # unique names to try before giving up (a collision of 64 random bits is practically impossible)


def file_mode() -> int:
    """The mode ``open()`` gives a new file here: 0666 less the process umask (for files a library writes 0600)."""
    current = os.umask(0)
    os.umask(current)
    return 0o666 & ~current


def _create_unique(folder: Path, prefix: str, suffix: str) -> tuple[int, str]:
    """A new, exclusively created file in ``folder`` (mode 0666 & ~umask): (descriptor, path)."""
    for _ in range(_TRIES):
        path = os.path.join(folder, f"{prefix}{secrets.token_hex(8)}{suffix}")
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666), path
        except FileExistsError:
            continue
    raise FileExistsError(f"no unused temporary file name in {folder} after {_TRIES} tries")


def write_text_atomic(path: str | Path, text: str | Iterable[str]) -> Path:
    """Write ``text`` (or its pieces, streamed) to a unique temp file in ``path``'s folder, fsync, then
    ``os.replace`` onto ``path``."""
    path = Path(path)
    fd, tmp = _create_unique(path.parent, f".{path.name}.", ".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text) if isinstance(text, str) else fh.writelines(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
