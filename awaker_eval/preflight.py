"""Checks that run before any data or model is loaded, each failing with one sentence saying what to fix."""

from __future__ import annotations

from pathlib import Path

from awaker_eval.config.schema import BenchmarkConfig, RunConfig
from awaker_eval.data.sources import check_benchmark_source
from awaker_eval.models.factory import check_model_config
from awaker_eval.models.loading import looks_like_local_path, resolve_checkpoint
from awaker_eval.tasks.base import BenchmarkError
from awaker_eval.tasks.registry import get_benchmark

RUNNER_MODES = ("generate", "choice")


class ConfigError(ValueError):
    """A configuration that cannot work; the message names the key and the fix."""


def check_benchmark(b: BenchmarkConfig) -> None:
    """The benchmark settings: a registered kind, its layout / protocol / extractor, an existing local source."""
    try:
        get_benchmark(b.kind).check_config(b)
    except BenchmarkError as exc:
        raise ConfigError(str(exc)) from exc
    if b.source and looks_like_local_path(b.source):
        if not Path(b.source).expanduser().exists():
            raise ConfigError(f"benchmark.source={b.source!r} does not exist: pass an existing file/dir or a hub id")
    check_benchmark_source(b)  # the layout's default source, or a source that matches the layout


def preflight(cfg: RunConfig) -> None:
    m = cfg.model
    if cfg.runner.mode not in RUNNER_MODES:
        raise ConfigError(f"runner.mode={cfg.runner.mode!r} is unknown: use one of {', '.join(RUNNER_MODES)}")
    check_benchmark(cfg.benchmark)
    try:
        check_model_config(m)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    if m.kind in ("qwen2_vl", "awaker2_5_vl") and m.path:
        local = resolve_checkpoint(m.path, m.revision, what="model.path", allow_patterns=["config.json"])  # raises CheckpointNotFound with the fix
        if looks_like_local_path(m.path) and not (Path(local) / "config.json").is_file():
            raise ConfigError(f"model.path={m.path!r} has no config.json, so it is not a Qwen2-VL checkpoint "
                              "directory: pass the folder that holds config.json, the weights and the processor")
    if m.kind == "awaker2_5_vl" and m.checkpoint and looks_like_local_path(m.checkpoint):
        resolve_checkpoint(m.checkpoint, m.checkpoint_revision, what="model.checkpoint", allow_patterns=["*.json"])
