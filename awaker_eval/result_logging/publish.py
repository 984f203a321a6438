"""After a run's outputs are written: send them to the chosen logger, and never lose a result over it.

Why this order and these outcomes: every number is on disk before anything is sent, so a logger that is down, a
missing key or a full quota costs the upload only. The outcome is recorded in ``run.json`` (``logger``: status,
where it went or why it failed, seconds) and printed as one line; a failure ends the run with exit 1 unless
``logger.required=false`` (a CI job that must not miss an upload notices; a local run may opt out).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from awaker_eval.atomic_io import write_text_atomic
from awaker_eval.attempts import RUN_FILE, read_run_json
from awaker_eval.config.schema import RunConfig
from awaker_eval.redact import redact, redact_text
from awaker_eval.result_logging.errors import LoggerFailed
from awaker_eval.result_logging.payload import run_payload
from awaker_eval.result_logging.wandb_sink import send_to_wandb
from awaker_eval.tasks.registry import catalogue

LOGGER_KEY = "logger"  # run.json: the latest invocation's logging outcome
MAX_REASON_CHARS = 300


def record_outcome(run_dir: Path, outcome: dict[str, Any]) -> None:
    """Put the outcome under ``logger`` in run.json, keeping everything else (written under the run's lock)."""
    data = read_run_json(run_dir)
    data[LOGGER_KEY] = redact(outcome)
    write_text_atomic(Path(run_dir) / RUN_FILE, json.dumps(data, indent=2, sort_keys=True, default=str))


def failure_reason(exc: BaseException) -> str:
    """One redacted line: the exception's type and the first line of its message."""
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return redact_text(" ".join(text.split()))[:MAX_REASON_CHARS]


def failure_message(reason: str, run_dir: Path, required: bool) -> str:
    """The one line a failed upload prints (``warning:`` or, when required, the ``error:`` the app prints)."""
    tail = "; set logger.required=false to exit 0 when only logging fails" if required else ""
    return f"logging to W&B failed ({reason}); every result is written in {run_dir}{tail}"


def log_results(cfg: RunConfig, run_dir: Path) -> LoggerFailed | None:
    """Send the finished run in ``run_dir`` to ``cfg.logger`` (rank 0, outputs written, lock held). Returns the
    error to raise once the run's other checks are done (``logger.required``), else None; prints one line."""
    logger = cfg.logger
    if logger.kind == "none" or logger.mode == "disabled":
        return None
    t0 = time.perf_counter()
    outcome: dict[str, Any] = {"kind": logger.kind, "mode": logger.mode, "project": logger.project}
    try:
        where = send_to_wandb(logger, run_payload(run_dir, catalogue(), logger.name), run_dir)
    except Exception as exc:  # noqa: BLE001 - whatever W&B raises, the results on disk stand
        reason = failure_reason(exc)
        record_outcome(run_dir, {**outcome, "status": "failed", "error": reason,
                                 "seconds": round(time.perf_counter() - t0, 3)})
        message = failure_message(reason, run_dir, logger.required)
        if logger.required:
            return LoggerFailed(message)
        print(f"warning: {message}", file=sys.stderr)
        return None
    seconds = round(time.perf_counter() - t0, 3)
    record_outcome(run_dir, {**outcome, "status": "ok", "where": where, "seconds": seconds})
    print(f"logged to W&B in {seconds:.1f} s: {redact_text(where)}")
    return None
