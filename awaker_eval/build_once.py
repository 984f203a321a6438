"""Build a cached directory exactly once: in a temporary sibling, then an atomic rename.

Used for everything generated into the cache (tiny models, synthetic benchmarks). Concurrent or interrupted
builds are safe: a half-built directory is never visible under the final name, and the loser of a rename race
keeps the winner's directory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable


def build_once(target: Path, marker: str, build: Callable[[Path], object]) -> Path:
    """Return ``target``, first running ``build(tmp_dir)`` and renaming it there unless ``target/marker`` exists."""
    target = Path(target)
    if (target / marker).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        build(tmp)
        try:
            os.replace(tmp, target)
        except OSError:  # another process finished first
            if not (target / marker).exists():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target
