"""One job-array shard of a run (``runner.shard=I/N``): its locks, its part of the samples, its record, and the
merge when it is the last of the N to finish.

Why shards without a rendezvous: a SLURM job array (or any N machines sharing a file system) starts N independent
invocations, at once or hours apart, that never talk to each other; they meet only in the run directory. Each
holds the run directory's lock shared (a whole run holds it exclusively) and its own shard's lock exclusively, takes
its part of the cost-balanced assignment over every sample (``engine/shards.py``), stores its predictions in its
own shard files (crash-safe and resumable like any rank's), and on success writes its record (``shard_records``).
The shard that finds all N records complete merges them (``shard_merge``); ``awaker-eval merge`` does the same.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from pathlib import Path
from typing import Any, Iterator

import yaml

from awaker_eval.attempts import Attempt
from awaker_eval.config.schema import RunConfig
from awaker_eval.engine.batching import estimate_cost
from awaker_eval.engine.shards import Assignment, Part, all_costs, assign_part, parse_part
from awaker_eval.engine.store import SHARD_DIR
from awaker_eval.redact import redact
from awaker_eval.rundir import config_yaml
from awaker_eval.run_lock import file_lock, run_dir_lock
from awaker_eval.shard_checks import plan_merge, waiting_for
from awaker_eval.shard_merge import already_merged, merge_lock, merge_run
from awaker_eval.shard_records import (
    ShardRefused, other_counts, read_record, record_path, write_predictions, write_record,
)
from awaker_eval.tasks.base import Benchmark
from awaker_eval.types import Prediction

log = logging.getLogger(__name__)


def _time() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


@dataclasses.dataclass
class ShardRun:
    """Shard ``part`` of the run in ``run_dir``. ``final_predictions``: every sample's prediction once this shard
    merged the run (rank 0), else empty: a shard's own part is never scored or judged as if it were the run."""

    part: Part
    run_dir: Path
    bench: Benchmark  # the run's benchmark object (the entry point resolved it): the merge scores with it
    assignment: Assignment | None = None
    final_predictions: list[Prediction] = dataclasses.field(default_factory=list)
    merged: bool = False
    completed: bool = False  # this invocation recorded the shard complete (a later merge refusal leaves it so)

    @classmethod
    def of(cls, cfg: RunConfig, run_dir: Path, bench: Benchmark) -> "ShardRun | None":
        part = parse_part(cfg.runner.shard)
        return None if part is None else cls(part, Path(run_dir), bench)

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """The run directory shared with the other shards, this shard alone; refuses a directory split otherwise."""
        note = f"shard {self.part.label}"
        with run_dir_lock(self.run_dir, shared=True, note=note):
            (self.run_dir / SHARD_DIR).mkdir(parents=True, exist_ok=True)
            lock = self.run_dir / SHARD_DIR / f"part-{self.part.index}-of-{self.part.count}.lock"
            busy = (lambda holder: f"shard {self.part.label} of {self.run_dir} is already running ({holder}): wait "
                                   f"for it to finish")
            with file_lock(lock, busy, note=note):
                others = other_counts(self.run_dir, self.part.count)
                if others:
                    raise ShardRefused(
                        f"{self.run_dir} is already split into {others[0]} shards, not {self.part.count}: run "
                        f"runner.shard=I/{others[0]}, or remove its shards/part-*-of-{others[0]}.json records to "
                        f"split it anew (stored predictions are kept and reused)")
                yield

    def owned(self, samples: list, model: Any, min_pixels: int | None, max_pixels: int | None) -> list:
        """This shard's samples (every rank of the shard calls this: they share the header reads)."""
        cost = (lambda p: estimate_cost(samples[p], model.visual_tokens, min_pixels, max_pixels))
        self.assignment = assign_part(all_costs(len(samples), cost), self.part)
        log.info("shard %s: %d of %d samples, by estimated cost %s", self.part.label,
                 len(self.assignment.positions), len(samples), self.assignment.balance())
        return [samples[p] for p in self.assignment.positions]

    # -- the record (rank 0) ----------------------------------------------------------------------------------
    def _record(self) -> dict[str, Any]:
        return read_record(record_path(self.run_dir, self.part)) or {}

    def _save(self, record: dict[str, Any], entry: dict[str, Any]) -> None:
        """Write the record with ``entry`` as this invocation's attempt; an earlier attempt still ``running``
        died without a final record (this shard's lock is held), so it is marked ``killed``."""
        attempts = [a for a in record.get("attempts", []) if a.get("id") != entry["id"]]
        for a in attempts:
            if a.get("status") == "running":
                a.update(status="killed", error="ended without a final record (killed, or the machine stopped)")
        record.update(shard=self.part.label, index=self.part.index, count=self.part.count,
                      attempts=attempts + [entry])
        write_record(self.run_dir, self.part, record)

    def start(self, attempt: Attempt, cfg: RunConfig, data_digest: str) -> None:
        """Listed as running at once, so that a SIGKILLed shard is seen as incomplete, not as missing."""
        record = self._record()
        record.update(status="running", data_digest=data_digest, config=_plain(cfg))
        self._save(record, attempt.record("running"))

    def failed(self, attempt: Attempt, exc: BaseException, result: Any = None) -> None:
        """Record a failed attempt; a shard that completed and then could not merge stays complete."""
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        record = self._record()
        record["status"] = "complete" if self.completed else status
        status = "ok" if self.completed else status  # its part is stored: the error names the refused merge
        try:
            self._save(record, attempt.record(status, f"{type(exc).__name__}: {text}"[:500], result))
        except OSError as write_exc:  # a full or read-only disk must not hide the original error
            log.warning("could not record the failed shard in %s: %s", record_path(self.run_dir, self.part), write_exc)

    def finish(self, done: "ShardDone", attempt: Attempt, samples: list, sweep_job: bool = False) -> None:
        """Record this shard complete (its predictions first), then merge when all N are."""
        record = self._record()
        sha = write_predictions(self.run_dir, self.part, done.result.predictions)
        record.update(done.facts(self.assignment), status="complete", predictions_sha256=sha, total=len(samples))
        self._save(record, attempt.record("ok", result=done.result, timings=done.timings))
        self.completed = True
        print(f"shard {self.part.label}: {len(done.result.predictions)} of {len(samples)} samples stored in "
              f"{self.run_dir}", flush=True)
        self.merge_if_last(samples, sweep_job)

    def merge_if_last(self, samples: list, sweep_job: bool) -> None:
        waiting = waiting_for(self.run_dir, self._record())
        if waiting:
            print(f"waiting for shard(s) {', '.join(waiting)}: the last to finish merges (or: awaker-eval merge "
                  f"{self.run_dir})", flush=True)
            return
        with merge_lock(self.run_dir):
            plan = plan_merge(self.run_dir)  # ShardRefused: one line, exit 2 (this shard's part is stored)
            if already_merged(self.run_dir, plan):
                print(f"shards already merged by another shard: {self.run_dir}", flush=True)
            else:
                merge_run(self.run_dir, plan, self.bench, samples, sweep_job=sweep_job)
            self.final_predictions, self.merged = list(plan.predictions), True


@dataclasses.dataclass
class ShardDone:
    """What a finished shard records for the merge: the engine's result and the facts run.json would hold."""

    result: Any  # EngineResult of this shard's samples
    protocol_fp: str
    model_fp: str
    model: Any
    timings: dict[str, float]
    extra: dict[str, Any]

    def facts(self, assignment: Assignment | None) -> dict[str, Any]:
        device, dtype = getattr(self.model, "device", None), getattr(self.model, "dtype", None)
        return {
            "protocol_fp": self.protocol_fp, "model_fp": self.model_fp, "timings": self.timings,
            "positions": assignment.positions if assignment else [],
            "balance": assignment.balance() if assignment else None,
            "engine": self.result.to_dict(), "finished": _time(),
            "model": {"fingerprint": self.model.fingerprint(), "device": None if device is None else str(device),
                      "dtype": None if dtype is None else str(dtype).replace("torch.", "")},
            **{k: self.extra[k] for k in ("data_warnings", "data") if k in self.extra},
        }


def _plain(cfg: RunConfig) -> dict[str, Any]:
    """The config as config.yaml writes it (redacted, plain YAML types)."""
    return yaml.safe_load(config_yaml(redact(cfg))) or {}
