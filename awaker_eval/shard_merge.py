"""Merge N complete job-array shards into the run's outputs, exactly as one process would have written them.

``predictions.jsonl`` is every shard's final predictions in sample order; ``scores.json``, ``leaderboard.md``,
``run.json`` and the report are written by the same ``run_outputs.write_run_outputs`` a whole run uses, with the
settings the shards recorded (shard 0's, which every other shard was checked to share). Nothing is written unless
``shard_checks.plan_merge`` accepts every shard. Merges hold ``shards/merge.lock``, so two shards finishing at once
merge one after the other, and the second sees the first's merge of the same shards and stops.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from omegaconf import OmegaConf

from awaker_eval.atomic_io import write_text_atomic
from awaker_eval.attempts import Attempt
from awaker_eval.config.schema import RunConfig
from awaker_eval.engine.runner import EngineCounts, EngineResult, EngineTimings
from awaker_eval.engine.store import MERGED_FILE, SHARD_DIR, write_merged
from awaker_eval.report.runs import SCORES_FILE
from awaker_eval.run_lock import file_lock
from awaker_eval.run_outputs import write_run_outputs
from awaker_eval.tasks.base import Benchmark
from awaker_eval.rundir import settings_diff
from awaker_eval.shard_records import MergePlan
from awaker_eval.types import Prediction

MERGE_LOCK = "merge.lock"
MERGED_MARK = "merged.json"


@contextlib.contextmanager
def merge_lock(run_dir: Path) -> Iterator[Path]:
    """One merge at a time in a run directory (waits for one in progress: merges take seconds)."""
    (Path(run_dir) / SHARD_DIR).mkdir(parents=True, exist_ok=True)
    with file_lock(Path(run_dir) / SHARD_DIR / MERGE_LOCK, lambda holder: holder, wait=True) as path:
        yield path


def retire_shard_records(run_dir: Path) -> Path | None:
    """A whole run (no ``runner.shard``) in a directory that job-array shards wrote: their records, final
    predictions and merge mark move to ``shards/retired<N>/`` (kept for the record). Without this a later
    ``awaker-eval merge`` (or a requeued shard) would write the old shards' numbers over the whole run's, or call
    them already merged. Their stored work in progress stays in the store, which the whole run reuses."""
    folder = Path(run_dir) / SHARD_DIR
    old = sorted(folder.glob("part-*-of-*.json*")) + sorted(folder.glob(MERGED_MARK)) if folder.is_dir() else []
    if not old:
        return None
    n = 1
    while (dst := folder / f"retired{n}").exists():
        n += 1
    dst.mkdir()
    for path in old:
        path.replace(dst / path.name)
    return dst


def already_merged(run_dir: Path, plan: MergePlan) -> bool:
    """These very shards were merged and the outputs are there (another shard finishing at once merged them)."""
    try:
        mark = json.loads((Path(run_dir) / SHARD_DIR / MERGED_MARK).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return mark == plan.digest() and all((Path(run_dir) / f).is_file() for f in (MERGED_FILE, SCORES_FILE))


def config_of(record: dict[str, Any]) -> RunConfig:
    """The RunConfig a shard recorded (redacted: scoring needs no secret), as a whole run: ``runner.shard`` unset."""
    base = OmegaConf.structured(RunConfig)
    cfg = OmegaConf.to_object(OmegaConf.merge(base, record["config"]))
    cfg.runner.shard = None
    return cfg


@dataclass
class RecordedModel:
    """The model facts a shard recorded (run.json's device, dtype, fingerprint): the merge loads no model."""

    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def device(self) -> str | None:
        return self.facts.get("device")

    @property
    def dtype(self) -> str | None:
        return self.facts.get("dtype")

    def fingerprint(self) -> dict[str, Any] | None:
        return self.facts.get("fingerprint")


def _sum(values: Sequence[dict[str, Any]], key: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        for k, n in (v.get(key) or {}).items():
            out[k] = out.get(k, 0) + int(n)
    return out


def merged_result(plan: MergePlan, path: Path, seconds: float) -> EngineResult:
    """One EngineResult for run.json: counts summed over the shards, the slowest shard's engine time, and per
    shard what it did (``engine.shards.job_shards``)."""
    engines = [rec.get("engine") or {} for rec in plan.records]
    counts = [e.get("counts") or {} for e in engines]
    total_s = max((float((e.get("timings_s") or {}).get("total", 0.0)) for e in engines), default=0.0)
    done = sum(int(c.get("done", 0)) for c in counts)
    timings = EngineTimings(**{k: sum(float((e.get("timings_s") or {}).get(k, 0.0)) for e in engines)
                               for k in ("plan", "preprocess", "data_wait", "model", "store")},
                            merge=seconds, total=total_s)
    checks = {json.dumps(c, sort_keys=True): c for e in engines for c in e.get("self_checks") or []}
    return EngineResult(
        predictions=list(plan.predictions),
        counts=EngineCounts(total=len(plan.predictions), done=done,
                            skipped=sum(int(c.get("skipped", 0)) for c in counts),
                            failed=sum(p.error is not None for p in plan.predictions)),
        timings=timings, samples_per_s=done / total_s if total_s > 0 else 0.0,
        world_size=sum(int(e.get("world_size", 1)) for e in engines),
        batches=sum(int(e.get("batches", 0)) for e in engines),
        oom_splits=sum(int(e.get("oom_splits", 0)) for e in engines),
        error_splits=sum(int(e.get("error_splits", 0)) for e in engines), predictions_path=path,
        invalidated=_sum(engines, "invalidated"), relabelled=sum(int(e.get("relabelled", 0)) for e in engines),
        shards={"job_shards": {**(plan.first.get("balance") or {}), "count": plan.count,
                               "parts": [_part_summary(rec) for rec in plan.records]}},
        self_checks=list(checks.values()) or None,
    )


def _part_summary(rec: dict[str, Any]) -> dict[str, Any]:
    engine = rec.get("engine") or {}
    last = (rec.get("attempts") or [{}])[-1]
    return {"shard": rec.get("shard"), "host": last.get("host"), "pid": last.get("pid"),
            "finished": last.get("finished"), "counts": engine.get("counts"), "world_size": engine.get("world_size"),
            "engine_total_s": (engine.get("timings_s") or {}).get("total"), "attempts": len(rec.get("attempts") or [])}


def merge_run(run_dir: Path, plan: MergePlan, bench: Benchmark, samples: list | None = None,
              sweep_job: bool = False) -> EngineResult:
    """Write the run's outputs from the N shards of ``plan`` (checked) with ``bench``, the benchmark object of
    their recorded kind; ``samples``: the run's samples when in memory (the report's thumbnails), else the report
    finds them itself. Returns the merged result."""
    t0 = time.perf_counter()
    run_dir = Path(run_dir)
    cfg = config_of(plan.first)
    preds: list[Prediction] = plan.predictions
    path = write_merged(run_dir, [p.id for p in preds], {p.id: p for p in preds})
    result = merged_result(plan, path, time.perf_counter() - t0)
    first = plan.first
    timings = {k: max(float((rec.get("timings") or {}).get(k, 0.0)) for rec in plan.records)
               for k in ("data_load_s", "model_load_s", "total_s")}
    extra = {k: first[k] for k in ("data_warnings", "data") if k in first}
    write_run_outputs(bench, cfg, run_dir, result, RecordedModel(first.get("model") or {}), first["protocol_fp"],
                      first["model_fp"], timings, extra_meta=extra, attempt=Attempt(settings_diff(run_dir, cfg)),
                      data_digest=first.get("data_digest"), samples=samples, sweep_job=sweep_job)
    write_text_atomic(run_dir / SHARD_DIR / MERGED_MARK, json.dumps(plan.digest(), sort_keys=True))
    return result
