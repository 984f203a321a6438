"""Checks that run before any data or model is loaded, each failing with one sentence saying what to fix."""

from __future__ import annotations

from pathlib import Path

from awaker_eval.config.schema import RunConfig
from awaker_eval.models.factory import check_model_config
from awaker_eval.models.loading import looks_like_local_path, resolve_checkpoint
from awaker_eval.prompts.builder import PromptError, config_protocol

BENCHMARK_KINDS = ("mme_realworld", "mmbench")
RUNNER_MODES = ("generate", "choice")


class ConfigError(ValueError):
    """A configuration that cannot work; the message names the key and the fix."""


def preflight(cfg: RunConfig) -> None:
    b, m = cfg.benchmark, cfg.model
    if b.kind not in BENCHMARK_KINDS:
        raise ConfigError(f"benchmark.kind={b.kind!r} is unknown: use one of {', '.join(BENCHMARK_KINDS)}")
    try:
        b.protocol = config_protocol(b.kind, b.protocol)  # aliases are one protocol: one run id, one note
    except PromptError as exc:
        raise ConfigError(f"benchmark.protocol: {exc}") from exc
    if cfg.runner.mode not in RUNNER_MODES:
        raise ConfigError(f"runner.mode={cfg.runner.mode!r} is unknown: use one of {', '.join(RUNNER_MODES)}")
    if b.source and looks_like_local_path(b.source):
        if not Path(b.source).expanduser().exists():
            raise ConfigError(f"benchmark.source={b.source!r} does not exist: pass an existing file/dir or a hub id")
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
