"""One evaluation run: benchmark -> prompts -> model -> store -> scores -> leaderboard, in that order.

This module only wires the stages together; each stage lives in its own package.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

from awaker_eval.config.schema import RunConfig

log = logging.getLogger(__name__)


def engine_settings(cfg: RunConfig):
    from awaker_eval.engine.runner import EngineSettings
    from awaker_eval.models.base import GenerationSettings

    return EngineSettings(
        mode=cfg.runner.mode,
        batch_size=cfg.runner.batch_size,
        max_batch_visual_tokens=cfg.runner.max_batch_visual_tokens,
        num_workers=cfg.runner.num_workers,
        resume=cfg.runner.resume,
        progress=cfg.runner.progress,
        generation=GenerationSettings(
            max_new_tokens=cfg.benchmark.max_new_tokens, repetition_penalty=cfg.runner.repetition_penalty
        ),
        min_pixels=cfg.benchmark.min_pixels,
        max_pixels=cfg.benchmark.max_pixels,
        reuse_vision=cfg.runner.reuse_vision,
        threads=cfg.runner.threads,
    )


def protocol_fingerprint_of(cfg: RunConfig) -> str:
    """The benchmark protocol (prompt, resolution, decoding) plus the runner settings that change outputs."""
    from awaker_eval.models.loading import fingerprint_hash
    from awaker_eval.prompts import protocol_fingerprint

    return fingerprint_hash(
        {
            "benchmark": protocol_fingerprint(cfg.benchmark),
            "mode": cfg.runner.mode,
            "repetition_penalty": cfg.runner.repetition_penalty,
        }
    )


def build_judge(cfg: RunConfig, run_dir: Path):
    """The optional LLM choice extractor (``benchmark.judge``), caching its replies in the run directory."""
    if not cfg.benchmark.judge.enabled:
        return None
    from awaker_eval.extract.llm_judge import LLMJudge, judge_config_from_dict

    settings = dataclasses.asdict(cfg.benchmark.judge)
    settings["cache_path"] = settings["cache_path"] or str(run_dir / "judge_cache.jsonl")
    return LLMJudge(judge_config_from_dict(settings))


def evaluate(cfg: RunConfig, hydra_output_dir: str | None = None) -> Path:
    """Run one benchmark on one model; returns the run directory (on every rank)."""
    from awaker_eval.data import load_samples
    from awaker_eval.engine import distributed
    from awaker_eval.engine.runner import run_inference
    from awaker_eval.models.factory import build_model
    from awaker_eval.models.loading import fingerprint_hash
    from awaker_eval.preflight import preflight
    from awaker_eval.rundir import resolve_run_dir, write_config
    from awaker_eval.run_outputs import write_run_outputs
    from awaker_eval.sample_io import PredictionBuilder, SampleEncoder

    t0 = time.perf_counter()
    preflight(cfg)
    dist = distributed.init_distributed()
    run_dir = Path(distributed.broadcast_str(str(resolve_run_dir(cfg, hydra_output_dir))))
    if dist.rank == 0:
        write_config(run_dir, cfg)
    samples = load_samples(cfg.benchmark)
    t_data = time.perf_counter()
    model = build_model(cfg.model)
    t_model = time.perf_counter()
    protocol_fp = protocol_fingerprint_of(cfg)
    model_fp = fingerprint_hash(model.fingerprint())
    encode = SampleEncoder(cfg.benchmark.protocol, cfg.benchmark.min_pixels, cfg.benchmark.max_pixels)
    judge = build_judge(cfg, run_dir)
    finalize = PredictionBuilder(cfg.benchmark.kind, cfg.benchmark.protocol, cfg.benchmark.extractor, judge=judge)
    result = run_inference(samples, encode, model, finalize, run_dir, protocol_fp, model_fp, engine_settings(cfg))
    if dist.rank == 0:
        timings = {"data_load_s": t_data - t0, "model_load_s": t_model - t_data, "total_s": time.perf_counter() - t0}
        extra = {"judge": {"config": dataclasses.asdict(cfg.benchmark.judge), **judge.stats.as_dict()}} if judge is not None else None
        write_run_outputs(cfg, run_dir, result, model, protocol_fp, model_fp, timings, extra_meta=extra)
    distributed.barrier()
    return run_dir
