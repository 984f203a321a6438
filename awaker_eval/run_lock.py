"""One invocation per run directory: an OS file lock on ``<run_dir>/.lock``, held for the whole run.

Why: two invocations computing into one directory duplicate work, interleave shard lines and leave a config that
disagrees with the scores. ``fcntl.flock`` is released by the OS when the holder exits (SIGKILL included), so a
crashed run never leaves a stale lock; the file itself stays and says who holds it (pid, host, start time). The
shards of a job-array run hold it shared (each also holds its own shard's lock: shard_runs.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import IO, Callable, Iterator

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
    note = f" ({info['note']})" if info.get("note") else ""
    return f"pid {info.get('pid')} on host {info.get('host')}, started {info.get('started')}{note}"


def _unusable(path: Path, exc: OSError) -> RunDirUnusable:
    return RunDirUnusable(f"cannot lock {path} ({exc.strerror or exc}): the run directory must be writable; "
                          f"pass another output_dir or results_root")


@contextlib.contextmanager
def run_dir_lock(run_dir: Path, shared: bool = False, note: str = "") -> Iterator[Path]:
    """Hold ``<run_dir>/.lock`` (creating the directory) until the block ends; RunDirBusy when another holds it.
    ``shared``: the shards of a job-array run (``runner.shard``) hold it together; they exclude a whole run and a
    whole run excludes them, but not each other. ``note`` is written beside the holder's pid (``shard 1/3``)."""
    run_dir = Path(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unusable(run_dir / LOCK_FILE, exc) from None
    busy = (lambda holder: f"{run_dir} is in use by another run ({holder}): wait for it to finish, or pass another "
                           f"output_dir")
    with file_lock(run_dir / LOCK_FILE, busy, shared=shared, note=note) as path:
        yield path


@contextlib.contextmanager
def file_lock(path: Path, busy: Callable[[str], str], shared: bool = False, wait: bool = False,
              note: str = "") -> Iterator[Path]:
    """Hold an OS lock on ``path`` (exclusive, or ``shared`` with other shared holders) until the block ends;
    RunDirBusy(``busy(holder)``) when it is taken, unless ``wait`` (then block until it is free)."""
    try:
        fh = open(path, "a+", encoding="utf-8")
    except OSError as exc:
        raise _unusable(path, exc) from None
    try:
        try:
            fcntl.flock(fh.fileno(), (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise RunDirBusy(busy(_holder(fh))) from None
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                             "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **({"note": note} if note else {})}))
        fh.flush()
        yield path
    finally:
        fh.close()  # releases the lock
