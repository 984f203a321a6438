"""One evaluation run: benchmark -> prompts -> model -> store -> scores -> leaderboard, in that order.

This module only wires the stages together; each stage lives in its own package.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from pathlib import Path
from typing import Callable, Iterator

from awaker_eval.attempts import Attempt, record_failure, record_start
from awaker_eval.config.schema import RunConfig
from awaker_eval.data.registry import load_benchmark
from awaker_eval.data.warnings import summary_lines
from awaker_eval.engine import distributed
from awaker_eval.engine.distributed import failing_together
from awaker_eval.engine.identity import data_digest
from awaker_eval.engine.metadata import data_footprint
from awaker_eval.engine.runner import EngineSettings, run_inference
from awaker_eval.engine.shards import parse_part
from awaker_eval.extract.llm_judge import LLMJudge, check_judge_failures
from awaker_eval.models.base import GenerationSettings
from awaker_eval.models.factory import build_model
from awaker_eval.models.loading import fingerprint_hash
from awaker_eval.models.self_checks import run_self_checks
from awaker_eval.preflight import check_samples, preflight
from awaker_eval.progress import library_progress_bars
from awaker_eval.prompts import protocol_fingerprint
from awaker_eval.result_logging.checks import check_logger
from awaker_eval.result_logging.errors import LoggerFailed
from awaker_eval.result_logging.publish import log_results
from awaker_eval.run_lock import RunDirBusy, run_dir_lock
from awaker_eval.run_outputs import write_run_outputs
from awaker_eval.run_validity import check_failed_samples
from awaker_eval.rundir import check_same_results, labelled, resolve_run_dir, settings_diff, write_config
from awaker_eval.sample_io import PredictionBuilder, SampleEncoder
from awaker_eval.shard_merge import retire_shard_records
from awaker_eval.shard_runs import ShardDone, ShardRun
from awaker_eval.tasks.base import Benchmark
from awaker_eval.visual_tokens import summary as visual_token_summary

log = logging.getLogger(__name__)


def engine_settings(cfg: RunConfig):
    return EngineSettings(
        mode=cfg.runner.mode,
        batch_size=cfg.runner.batch_size,
        max_batch_visual_tokens=cfg.runner.max_batch_visual_tokens,
        num_workers=cfg.runner.num_workers,
        prefetch_bytes=cfg.runner.prefetch_bytes,
        resume=cfg.runner.resume,
        progress=cfg.runner.progress,
        generation=GenerationSettings(
            max_new_tokens=cfg.benchmark.max_new_tokens, repetition_penalty=cfg.runner.repetition_penalty
        ),
        min_pixels=cfg.benchmark.min_pixels,
        max_pixels=cfg.benchmark.max_pixels,
        reuse_vision=cfg.runner.reuse_vision,
        threads=cfg.runner.threads,
        part=parse_part(cfg.runner.shard),
    )


def protocol_fingerprint_of(cfg: RunConfig, bench: Benchmark) -> str:
    """The benchmark protocol (prompt, resolution, decoding) plus the runner settings that change outputs.

    ``model.choice_padding=right`` changes choice scores in their low bits (models/padding.py), so choice runs record
    it; ``left`` (the earlier path) and generate mode, which it does not touch, keep their fingerprints. Likewise
    ``model.generate_padding=right`` (models/greedy_right.py) for generate runs only. ``bench``: the benchmark
    object of ``cfg.benchmark.kind``."""
    chosen = {"choice": "choice_padding", "generate": "generate_padding"}.get(cfg.runner.mode)
    padding = {chosen: getattr(cfg.model, chosen)} if chosen and getattr(cfg.model, chosen) != "left" else {}
    return fingerprint_hash(
        {
            "benchmark": protocol_fingerprint(cfg.benchmark, bench),
            "mode": cfg.runner.mode,
            "repetition_penalty": cfg.runner.repetition_penalty,
            **padding,
        }
    )


def prove_fast_paths(model, settings, policy: str) -> list:
    """The run-start self-checks of every enabled fast path on the run's device, dtype and weights
    (``models/self_checks.py``): a failing path is switched off (``fallback``) or stops the run (``strict``)."""
    return run_self_checks(model.self_checks(settings.mode, settings.reuse_vision, settings.generation), policy)


def ran_as(cfg: RunConfig, model) -> RunConfig:
    """The settings the predictions are made with: a self-check fallback (``model.choice_padding=left``, ...)
    changes the model's settings, and the fingerprints must describe what ran."""
    ran = getattr(model, "cfg", None)
    return dataclasses.replace(cfg, model=ran) if ran is not None and ran is not cfg.model else cfg


def build_judge(cfg: RunConfig, run_dir: Path):
    """The optional LLM choice extractor (``benchmark.judge``), caching its replies in the run directory."""
    if not cfg.benchmark.judge.enabled:
        return None
    judge = cfg.benchmark.judge  # the typed settings, checked by preflight (check_judge)
    judge = dataclasses.replace(judge, cache_path=judge.cache_path or str(run_dir / "judge_cache.jsonl"))
    return LLMJudge(judge, reuse_cache=cfg.runner.resume)


@contextlib.contextmanager
def hold_run_dir(run_dir: Path, rank: int, shard: ShardRun | None = None) -> Iterator[None]:
    """Rank 0 holds the run directory's lock for the whole run (a job-array shard: shared with the other shards,
    and its own shard's lock); every rank stops when another run holds it."""
    with contextlib.ExitStack() as stack:
        busy = ""
        if rank == 0:
            try:
                stack.enter_context(run_dir_lock(run_dir) if shard is None else shard.hold())
            except RunDirBusy as exc:
                busy = str(exc)
        busy = distributed.broadcast_str(busy)
        if busy:
            raise RunDirBusy(busy)
        yield


@dataclasses.dataclass
class LoadedData:
    """The run's benchmark object (resolved once, by the preflight) and samples, with what was derived from them
    once: data warnings, the encoder (prompts built once), content keys and the data digest (part of the run
    id)."""

    bench: Benchmark
    samples: list
    warnings: dict
    encode: SampleEncoder
    prompt_keys: dict
    digest: str


def load_data(cfg: RunConfig) -> LoadedData:
    """Preflight, the samples and each prompt built once; nothing is written before they are known usable."""
    bench = preflight(cfg)
    check_logger(cfg.logger)  # logger=wandb without the package: one line now, not after inference
    loaded = load_benchmark(bench, cfg.benchmark)
    samples, data_warnings = loaded.samples, loaded.warnings.as_dict()
    check_samples(cfg, samples)  # nothing is written before the config and the data are known to be usable
    encode = SampleEncoder(bench, cfg.benchmark.protocol, cfg.benchmark.min_pixels, cfg.benchmark.max_pixels)
    prompt_keys = encode.prompt_keys(samples)  # each prompt built once; image bytes hashed once per image
    return LoadedData(bench, samples, data_warnings, encode, prompt_keys, data_digest(samples, prompt_keys))


@failing_together()  # under torchrun, an exception on one rank (data, model load, outputs) stops them all
def evaluate(cfg: RunConfig, hydra_output_dir: str | None = None,
             on_run_dir: Callable[[Path], None] | None = None) -> Path:
    """Run one benchmark on one model; returns the run directory (on every rank). ``on_run_dir`` is told the
    directory as soon as it is known (the app names it when a run is interrupted). ``runner.progress=false``
    silences the libraries' progress bars too, for this run only. ``hydra_output_dir`` (a multirun job's folder)
    makes the run a sweep job: it prints one result line, the sweep one table at its end."""
    t0 = time.perf_counter()
    # the shards of a sweep (-m runner.shard=0/3,1/3,2/3) are one run: its own directory, not one per sweep job
    home = None if cfg.runner.shard else hydra_output_dir
    cfg = labelled(cfg, home)  # model.name unset: api_model@host (a served model) or the kind
    with library_progress_bars(cfg.runner.progress):
        data = load_data(cfg)
        t_data = time.perf_counter()
        dist = distributed.init_distributed()
        if dist.rank == 0:
            for line in summary_lines(data.warnings):
                print(line)
        run_dir = Path(distributed.broadcast_str(str(resolve_run_dir(cfg, home, data.digest))))
        shard = ShardRun.of(cfg, run_dir, data.bench)  # runner.shard=I/N: its part, merged by the last shard
        if on_run_dir is not None:
            on_run_dir(run_dir)
        with hold_run_dir(run_dir, dist.rank, shard):
            attempt = Attempt(settings_diff(run_dir, cfg))
            check_same_results(run_dir, attempt.settings_diff)  # before anything is loaded or written
            result, judge = _run_attempt(cfg, data, run_dir, attempt, dist.rank, (t0, t_data),
                                         sweep_job=hydra_output_dir is not None, shard=shard)
            scored = dist.rank == 0 and (shard is None or shard.merged)  # a shard that did not merge has no scores
            logger_failed = log_results(cfg, run_dir) if scored else None  # outputs written: send them
    distributed.barrier()
    logger_failed = distributed.broadcast_str(str(logger_failed or ""))  # every rank exits alike
    final = result.predictions if shard is None else shard.final_predictions  # a shard's: once it merged the run
    if judge is not None:  # past benchmark.judge.max_failures: exit 1, after every output is written
        check_judge_failures(final, cfg.benchmark.judge.max_failures)
    check_failed_samples(final, cfg.runner.max_failed_fraction)  # likewise past max_failed_fraction
    if logger_failed:  # logger.required: the upload failed, every result is on disk; exit 1
        raise LoggerFailed(logger_failed)
    return run_dir


def _run_attempt(cfg: RunConfig, data: LoadedData, run_dir: Path, attempt, rank: int, times: tuple[float, float],
                 sweep_job: bool = False, shard: ShardRun | None = None):
    """One attempt in the held run directory: the model, its self-checks, inference and (rank 0) every output;
    a failure is recorded in run.json (a shard: in its record) before it propagates. Returns ``(result, judge)``."""
    t0, t_data = times
    judge = result = None
    try:
        if rank == 0:
            if shard is None:
                record_start(run_dir, attempt)
                retired = retire_shard_records(run_dir)
                if retired is not None:
                    print(f"earlier job-array shard records set aside in {retired}: this whole run replaces them",
                          flush=True)
            else:
                shard.start(attempt, cfg, data.digest)
        model = build_model(cfg.model)
        settings = engine_settings(cfg)
        checks = prove_fast_paths(model, settings, cfg.runner.self_check)  # before any prediction is made
        t_model = time.perf_counter()
        protocol_fp = protocol_fingerprint_of(ran_as(cfg, model), data.bench)
        model_fp = fingerprint_hash(model.fingerprint())
        judge = build_judge(cfg, run_dir)
        finalize = PredictionBuilder(data.bench, cfg.benchmark.protocol, cfg.benchmark.extractor, judge=judge)
        if rank == 0:
            write_config(run_dir, cfg)  # the run starts now: first settings only, never overwritten
        samples = data.samples if shard is None else shard.owned(data.samples, model, settings.min_pixels,
                                                                  settings.max_pixels)
        result = run_inference(samples, data.encode, model, finalize, run_dir, protocol_fp, model_fp,
                               settings, prompt_keys=data.prompt_keys)
        result.self_checks = [r.as_dict() for r in checks]
        if rank == 0:
            timings = {"data_load_s": t_data - t0, "model_load_s": t_model - t_data,
                       "total_s": time.perf_counter() - t0}
            extra = {"judge": {"config": dataclasses.asdict(cfg.benchmark.judge), **judge.stats.as_dict()}} \
                if judge is not None else {}
            extra["data_warnings"] = data.warnings
            extra["data"] = data_footprint(data.samples)
            extra["visual_tokens"] = visual_token_summary(data.samples, model.visual_tokens, cfg.benchmark.min_pixels,
                                                          cfg.benchmark.max_pixels)
            if shard is not None:  # its record, then the merge when it is the last of the N
                shard.finish(ShardDone(result, protocol_fp, model_fp, model, timings, extra), attempt, data.samples,
                             sweep_job)
            else:
                write_run_outputs(data.bench, cfg, run_dir, result, model, protocol_fp, model_fp, timings,
                                  extra_meta=extra, attempt=attempt, data_digest=data.digest, samples=data.samples,
                                  sweep_job=sweep_job)
    except BaseException as exc:
        if rank == 0:
            record_failure(run_dir, attempt, exc, result) if shard is None else shard.failed(attempt, exc, result)
        raise
    return result, judge
