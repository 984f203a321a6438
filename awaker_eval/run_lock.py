"""One invocation per run directory: an OS file lock on ``<run_dir>/.lock``, held for the whole run.

Why: two invocations computing into one directory duplicate work, interleave shard lines and leave a config that
disagrees with the scores. ``fcntl.flock`` is released by the OS when the holder exits (SIGKILL included), so a
crashed run never leaves a stale lock; the file itself stays and says who holds it (pid, host, start time).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import IO, Iterator

from awaker_eval.preflight import ConfigError

LOCK_FILE = ".lock"


class RunDirBusy(ConfigError):
    """Another invocation holds the run directory's lock; the message names it."""


class RunDirUnusable(ConfigError):
    """The run directory cannot be created or locked (read-only, not a directory...)."""


def _holder(fh: IO[str]) -> str:
    fh.seek(0)
    try:
        info = json.loads(fh.read() or "{}")
    except ValueError:
        info = {}
    if not isinstance(info, dict) or "pid" not in info:
        return "another process (it has not written its pid yet)"
    return f"pid {info.get('pid')} on host {info.get('host')}, started {info.get('started')}"


@contextlib.contextmanager
def run_dir_lock(run_dir: Path) -> Iterator[Path]:
    """Hold ``<run_dir>/.lock`` (creating the directory) until the block ends; RunDirBusy when another holds it."""
    run_dir = Path(run_dir)
    path = run_dir / LOCK_FILE
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        fh = open(path, "a+", encoding="utf-8")
    except OSError as exc:
        raise RunDirUnusable(f"cannot lock {path} ({exc.strerror or exc}): the run directory must be writable; "
                             f"pass another output_dir or results_root") from None
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunDirBusy(
                f"{run_dir} is in use by another run ({_holder(fh)}): wait for it to finish, or pass another "
                f"output_dir"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                             "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}))
        fh.flush()
        yield path
    finally:
        fh.close()  # releases the lock
