"""The Weights & Biases sink: one W&B run per invocation, holding a run's scores, tables, settings and summary.

Why these W&B settings: the payload is all that leaves the machine. W&B's own collectors would add what was never
redacted (the command line and environment facts in its metadata, the git remote, the console, the code), so they
are off; system metrics are off too (the evaluation is over when this runs). ``reinit="create_new"`` keeps a W&B
run the caller may have open (a training script using the Python API) untouched.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator

from awaker_eval.config.schema import LoggerConfig
from awaker_eval.redact import redact
from awaker_eval.result_logging.payload import Payload, Table

JOB_TYPE = "eval"


@contextlib.contextmanager
def table_rows_allowed(table_cls: Any, n_rows: int) -> Iterator[None]:
    """Let one ``log`` call keep every row: W&B truncates a logged table to ``Table.MAX_ROWS`` (10,000), while its
    tables hold up to ``Table.MAX_ARTIFACT_ROWS`` (200,000); a benchmark has up to ~30k samples."""
    saved = table_cls.MAX_ROWS
    table_cls.MAX_ROWS = max(saved, min(n_rows, table_cls.MAX_ARTIFACT_ROWS))
    try:
        yield
    finally:
        table_cls.MAX_ROWS = saved


def _settings(wandb: Any) -> Any:
    """W&B's collectors off (see the module docstring: only the redacted payload leaves), nothing printed."""
    return wandb.Settings(silent=True, console="off", x_disable_stats=True, x_disable_meta=True, disable_git=True,
                          save_code=False, disable_code=True)


def _table(wandb: Any, table: Table) -> Any:
    """A W&B Table of our plain table (W&B's type, so the UI can filter and sort its columns)."""
    return wandb.Table(columns=table.columns, data=table.rows)


def where_logged(run: Any) -> str:
    """The offline run's folder, the online run's URL, or ``disabled`` (W&B's own switch said so: nothing sent)."""
    if run.settings.mode == "disabled":
        return "disabled (nothing sent)"
    return str(Path(run.dir).parent) if run.offline else (run.url or "")


def send_to_wandb(cfg: LoggerConfig, payload: Payload, run_dir: Path) -> str:
    """Log ``payload`` to a new W&B run and finish it; returns where it went (its URL online, its folder offline).
    A failure finishes the W&B run as failed and propagates (``publish`` reports it)."""
    import wandb  # the optional "wandb" extra; checked by preflight, imported only when a run is logged

    root = Path(cfg.dir).expanduser() if cfg.dir else run_dir
    root.mkdir(parents=True, exist_ok=True)
    run = wandb.init(project=cfg.project, entity=cfg.entity, name=payload.name, mode=cfg.mode, dir=str(root),
                     config=payload.config, tags=redact(list(cfg.tags)), job_type=JOB_TYPE, reinit="create_new",
                     settings=_settings(wandb))
    try:
        with table_rows_allowed(wandb.Table, len(payload.samples.rows)):
            run.log({**payload.scores, "breakdown": _table(wandb, payload.breakdown),
                     "samples": _table(wandb, payload.samples)})
        run.summary.update(payload.summary)
        where = where_logged(run)
    except BaseException:
        run.finish(exit_code=1)
        raise
    run.finish()
    return where
