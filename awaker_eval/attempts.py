"""Provenance that accumulates: every invocation on a run directory is one entry of ``run.json``'s ``attempts``.

Why: a resume, a rerun with other engine settings or a crashed invocation must not wipe what the earlier ones
did. Each entry holds the settings that differ from ``config.yaml`` (the first settings, never overwritten), the
counts (done / skipped / invalidated by reason / failed), timings, the outcome and when. An attempt is listed as
``running`` when it starts; one that never finished (SIGKILL) is marked ``killed`` by the next. The rest of
``run.json`` describes the latest successful invocation.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from awaker_eval.atomic_io import write_text_atomic

log = logging.getLogger(__name__)

RUN_FILE = "run.json"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


@dataclass
class Attempt:
    """One invocation on a run directory, from the moment it holds the directory's lock."""

    settings_diff: dict[str, list[Any]]
    started: str = field(default_factory=_now)
    pid: int = field(default_factory=os.getpid)
    host: str = field(default_factory=socket.gethostname)
    t0: float = field(default_factory=time.perf_counter)

    @property
    def id(self) -> str:
        return f"{self.started}/{self.host}/{self.pid}"

    def record(self, status: str, error: str | None = None, result: Any = None,
               timings: dict[str, float] | None = None) -> dict[str, Any]:
        """The JSON entry: ``status`` is running | ok | failed | interrupted (``killed`` is set by a later
        attempt); ``result`` an EngineResult when inference ran."""
        entry: dict[str, Any] = {
            "id": self.id, "started": self.started, "finished": None if status == "running" else _now(),
            "pid": self.pid, "host": self.host,
            "status": status, "error": error, "settings_diff": self.settings_diff,
            "wall_s": time.perf_counter() - self.t0, "timings_s": dict(timings or {}),
        }
        if result is not None:
            c = result.counts
            entry["counts"] = {"total": c.total, "done": c.done, "skipped": c.skipped, "failed": c.failed,
                               "invalidated": sum(result.invalidated.values())}
            entry["invalidated"] = dict(result.invalidated)
            entry["relabelled"] = result.relabelled
            entry["timings_s"]["engine_total"] = result.timings.total
            entry["samples_per_s"] = result.samples_per_s
        return entry


def read_run_json(run_dir: Path) -> dict[str, Any]:
    """The directory's run.json ({} when absent; a corrupt one is reported and treated as absent)."""
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("%s is unreadable (%s): its earlier attempts are not carried over", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def write_run_json(run_dir: Path, meta: dict[str, Any] | None, entry: dict[str, Any]) -> dict[str, Any]:
    """Write run.json: ``meta`` (None keeps the previous top-level facts, for a failed attempt) plus every
    earlier attempt and ``entry`` (replacing an entry with the same id, so an attempt is listed once). Called
    only while holding the directory's lock, so an earlier entry still ``running`` belongs to an invocation that
    died without a final record (SIGKILL, power loss): it is marked ``killed``."""
    old = read_run_json(run_dir)
    attempts = [a for a in old.get("attempts", []) if isinstance(a, dict) and a.get("id") != entry["id"]]
    for a in attempts:
        if a.get("status") == "running":
            a.update(status="killed", error="ended without a final record (killed, or the machine stopped)")
    data = {k: v for k, v in old.items() if k != "attempts"} if meta is None else dict(meta)
    data["attempts"] = attempts + [entry]
    write_text_atomic(Path(run_dir) / RUN_FILE, json.dumps(data, indent=2, sort_keys=True, default=str))
    return data


def record_start(run_dir: Path, attempt: Attempt) -> None:
    """List the attempt as ``running`` as soon as it holds the lock, so that even a SIGKILLed one is recorded."""
    write_run_json(run_dir, None, attempt.record("running"))


def record_failure(run_dir: Path, attempt: Attempt, exc: BaseException, result: Any = None) -> None:
    """Add a failed (or interrupted) attempt to run.json, leaving every other file of the directory untouched."""
    status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    try:
        write_run_json(run_dir, None, attempt.record(status, f"{type(exc).__name__}: {text}"[:500], result))
    except OSError as write_exc:  # a full or read-only disk must not hide the original error
        log.warning("could not record the failed attempt in %s: %s", Path(run_dir) / RUN_FILE, write_exc)
