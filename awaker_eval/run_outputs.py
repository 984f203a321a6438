"""The files a finished run leaves behind: scores.json, leaderboard.md, run.json, report.html (+ plots/).

Scores are always recomputed from the merged predictions file, so ``scores.json`` can never disagree with it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

from awaker_eval.atomic_io import write_text_atomic
from awaker_eval.attempts import Attempt, write_run_json
from awaker_eval.config.schema import ModelConfig, RunConfig
from awaker_eval.data.warnings import summary_lines
from awaker_eval.engine.choice import choice_agreement
from awaker_eval.engine.identity import relabel_line, stale_line
from awaker_eval.engine.metadata import collect_run_metadata
from awaker_eval.engine.store import MERGED_FILE
from awaker_eval.models.options import TINY_CHECKPOINT
from awaker_eval.models.self_checks import SelfCheckRecord, fallbacks
from awaker_eval.redact import redact
from awaker_eval.report.html import write_report
from awaker_eval.report.intervals import run_intervals
from awaker_eval.report.leaderboard import render_leaderboard
from awaker_eval.report.runs import SCORES_FILE, Scored, load_run
from awaker_eval.run_validity import INVALID_KEY, invalid_line, invalid_mark
from awaker_eval.rundir import resolve_run_dir
from awaker_eval.score.readers import read_jsonl
from awaker_eval.sweep_dirs import sweep_job_overrides
from awaker_eval.tasks.base import Benchmark
from awaker_eval.tasks.registry import catalogue

log = logging.getLogger(__name__)


def score_run_parts(bench: Benchmark, cfg: RunConfig, predictions: list) -> Scored:
    """Official aggregates + bootstrap intervals for one run's predictions, with the item table and the
    per-group intervals behind them (each computed once; the report reuses them). ``bench``: the benchmark
    object of ``cfg.benchmark.kind``."""
    kind = cfg.benchmark.kind
    scores, units = bench.score(predictions)
    intervals = None
    if units is not None:  # None: hidden answers (MMBench test), nothing to interval
        scores, intervals = run_intervals(scores, units, bench, n_boot=cfg.runner.bootstrap_samples,
                                          seed=cfg.runner.seed)
    scores["benchmark"] = {
        "name": cfg.benchmark.name, "kind": kind, "variant": cfg.benchmark.variant,
        "language": cfg.benchmark.language, "version": cfg.benchmark.version, "split": cfg.benchmark.split,
        "protocol": cfg.benchmark.protocol, "extractor": cfg.benchmark.extractor, "min_pixels": cfg.benchmark.min_pixels,
        "max_pixels": cfg.benchmark.max_pixels, "limit": cfg.benchmark.limit, "subset": cfg.benchmark.subset,
        "subset_seed": cfg.benchmark.subset_seed,
    }
    scores["model"] = cfg.model.name
    scores["mode"] = cfg.runner.mode
    return Scored(scores, units, intervals)


def score_run(bench: Benchmark, cfg: RunConfig, predictions: list) -> dict[str, Any]:
    """Official aggregates + bootstrap intervals for one run's predictions (what ``scores.json`` holds)."""
    return score_run_parts(bench, cfg, predictions).scores


def sibling_mode_run(cfg: RunConfig, run_dir: Path, data_digest: str | None = None) -> Path | None:
    """The same benchmark + model run on the same data in the other mode (generate <-> choice), when it exists
    beside this one."""
    if cfg.output_dir or cfg.run_id:
        return None
    other = "choice" if cfg.runner.mode == "generate" else "generate"
    twin = dataclasses.replace(cfg, runner=dataclasses.replace(cfg.runner, mode=other))
    path = resolve_run_dir(twin, data_digest=data_digest)
    return path if path != run_dir and (path / MERGED_FILE).is_file() else None


def choice_vs_generate(cfg: RunConfig, run_dir: Path, predictions: list,
                       data_digest: str | None = None) -> dict[str, Any] | None:
    """How often choice-by-scoring agrees with generation, when both runs of this benchmark + model exist."""
    twin = sibling_mode_run(cfg, run_dir, data_digest)
    if twin is None:
        return None
    other = read_jsonl(twin / MERGED_FILE)
    gen, choice = (predictions, other) if cfg.runner.mode == "generate" else (other, predictions)
    return {"other_run": str(twin), **choice_agreement(gen, choice)}


def agreement_line(agreement: dict[str, Any], model: ModelConfig) -> str:
    """What the choice-vs-generate number measures, and why it means nothing for a random tiny model."""
    line = (f"choice vs generate: {agreement['agree']}/{agreement['compared']} samples get the same letter from "
            f"greedy generation and from scoring each option's likelihood (other run: {agreement['other_run']})")
    if model.kind == "tiny" or model.checkpoint == TINY_CHECKPOINT:
        line += ("\nwarning: the model is a random tiny one: its generations are rarely a letter, so little "
                 "agreement is expected and says nothing about the method")
    return line


def fallbacks_of(records: list[dict] | None) -> list[str]:
    """The failure line of every fast path a run-start self-check switched off (repeated at the run's end)."""
    return fallbacks([SelfCheckRecord(**r) for r in records or []])


def result_line(label: str, scores: dict[str, Any]) -> str:
    """A sweep job's one line in place of the whole leaderboard, which its sweep prints once, at its end, with
    every job in it: the Overall with its interval and item count."""
    overall = scores.get("overall")
    if not isinstance(overall, (int, float)) or isinstance(overall, bool):
        return f"{label}: no score (hidden answers)"
    ci = (scores.get("ci") or {}).get("overall")
    numeric = isinstance(ci, (list, tuple)) and len(ci) == 2 and all(isinstance(v, (int, float)) for v in ci)
    interval = f" [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]" if numeric else ""
    n = scores.get("n", scores.get("n_questions"))
    count = f", n={n}" if isinstance(n, int) else ""
    return f"{label}: Overall {100 * overall:.1f}{interval}{count}"


def write_run_outputs(bench: Benchmark, cfg: RunConfig, run_dir: Path, result, model, protocol_fp: str,
                      model_fp: str, timings: dict[str, float], extra_meta: dict[str, Any] | None = None, attempt=None,
                      data_digest: str | None = None, samples: list | None = None,
                      sweep_job: bool = False) -> dict[str, Any]:
    """scores.json, leaderboard.md, run.json (with this invocation appended to its ``attempts``), report.html
    and its sample browser (``samples``: the run's samples, for the thumbnails without loading the data again).
    Prints the leaderboard, or for a job of a sweep (``sweep_job``) its one result line. ``bench``: the benchmark
    object the run was resolved to."""
    predictions = list(result.predictions)
    scored = score_run_parts(bench, cfg, predictions)
    scores = scored.scores
    data_warnings = (extra_meta or {}).get("data_warnings")
    if data_warnings:  # upstream-accepted odd rows by kind with their ids (run.json always has the key)
        scores["data_warnings"] = data_warnings
    agreement = choice_vs_generate(cfg, run_dir, predictions, data_digest)
    if agreement is not None:
        scores["choice_vs_generate"] = agreement
    invalid = invalid_mark(predictions, cfg.runner.max_failed_fraction)
    if invalid is not None:  # the numbers do not stand: marked wherever they are shown (run_validity.py)
        scores[INVALID_KEY] = invalid
    write_text_atomic(run_dir / SCORES_FILE, json.dumps(scores, indent=2, sort_keys=True))
    table = render_leaderboard(scores, run_label=cfg.model.name, benchmark=cfg.benchmark, task=bench)
    write_text_atomic(run_dir / "leaderboard.md", table)
    meta = collect_run_metadata(
        config=dataclasses.asdict(cfg), result=result, model=model, protocol_fp=protocol_fp, model_fp=model_fp, timings=timings,
        extra=extra_meta,
    )
    meta["data_digest"] = data_digest
    if invalid is not None:
        meta[INVALID_KEY] = invalid
    attempt = attempt or Attempt(settings_diff={})
    write_run_json(run_dir, redact(meta), attempt.record("ok", result=result, timings=timings))
    report = write_report(load_run(run_dir, catalogue(), predictions, scored), n_boot=cfg.runner.bootstrap_samples,
                          seed=cfg.runner.seed, samples=samples)
    if sweep_job:
        overrides = sweep_job_overrides(run_dir.name)
        print(result_line(f"{cfg.model.name} ({overrides})" if overrides else cfg.model.name, scores))
    else:
        print(table)
    if agreement is not None:
        print("\n" + agreement_line(agreement, cfg.model))
    for line in summary_lines(data_warnings):
        print(line)
    for line in filter(None, (stale_line(result.invalidated), relabel_line(result.relabelled))):
        print(f"\n{line}")
    for line in fallbacks_of(result.self_checks):
        print(f"\n{line}")
    failed = scores.get("n_failed", 0)
    if failed:
        print(f"\n{failed} sample(s) failed and count as wrong; see {report}")
    if invalid is not None:
        print(f"\n{invalid_line(invalid)}")
    if not sweep_job:
        print(f"\nrun directory: {run_dir}\nreport: {report}")
    return scores
