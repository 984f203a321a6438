"""Where a run writes: ``<results_root>/<benchmark>/<model>/<run_id>/`` plus the resolved config saved there.

The default run id is a hash of the benchmark + model + generation settings, so rerunning the same command lands in
the same directory and resumes; anything that changes predictions changes the directory (and the store's keys).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

from awaker_eval.config.schema import RunConfig
from awaker_eval.redact import redact

CONFIG_FILE = "config.yaml"

# Runner fields that change predictions (others, such as batch size or workers, must not).
_RESULT_RUNNER_FIELDS = ("mode", "repetition_penalty")


def default_run_id(cfg: RunConfig) -> str:
    runner = {k: getattr(cfg.runner, k) for k in _RESULT_RUNNER_FIELDS}
    payload = {
        "benchmark": dataclasses.asdict(cfg.benchmark),
        "model": dataclasses.asdict(cfg.model),
        "runner": runner,
    }
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return f"run-{digest}"


def resolve_run_dir(cfg: RunConfig, hydra_output_dir: str | None = None) -> Path:
    """Explicit ``output_dir`` > Hydra multirun job dir > ``results_root/benchmark/model/run_id``."""
    if cfg.output_dir:
        return Path(cfg.output_dir)
    if hydra_output_dir:
        return Path(hydra_output_dir)
    run_id = cfg.run_id or default_run_id(cfg)
    return Path(cfg.results_root) / cfg.benchmark.name / cfg.model.name / run_id


def write_config(run_dir: Path, cfg: RunConfig) -> Path:
    """Save the resolved config as YAML (the exact settings behind every number in the directory)."""
    from omegaconf import OmegaConf

    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / CONFIG_FILE
    path.write_text(OmegaConf.to_yaml(OmegaConf.structured(redact(cfg))))  # URL secrets -> ***
    return path


def read_config(run_dir: Path) -> Any:
    """The saved config as plain YAML data (``{}`` for an empty file); None when the directory has none."""
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        return None
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
