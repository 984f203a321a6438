"""A local model in two steps: its files are put on disk (``materialize_tiny``), then its backend loads them from
their paths like any checkpoint's (``load_local``).

``model=tiny`` and ``model.checkpoint=tiny`` name checkpoints that their tiny builders write, once per cache
directory and seed (``models/tiny.py``, ``models/awaker/tiny.py``); this is the one module of the load path that calls
them. The backends (``Qwen2VLModel``, ``AwakerModel``) take paths and import no builder. The user's config goes to the
backend unchanged, so what a run records (``kind: tiny``, ``checkpoint: tiny``, the fingerprints, the run id) never
names the cache directory the files were written to.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from awaker_eval.config.schema import ModelConfig
from awaker_eval.models.awaker.backend import AwakerModel
from awaker_eval.models.awaker.tiny import tiny_awaker_paths
from awaker_eval.models.base import VisionLanguageModel
from awaker_eval.models.options import TINY_CHECKPOINT
from awaker_eval.models.qwen2_vl import load_qwen2_vl
from awaker_eval.models.tiny import ensure_tiny_checkpoint


@dataclass(frozen=True)
class LocalFiles:
    """Where a model's files are; None: resolve ``model.path`` / ``model.checkpoint`` as usual (local or hub)."""

    path: str | None = None  # base directory: config, tokenizer, processor (and a Qwen2-VL's weights)
    checkpoint: Path | None = None  # an Awaker checkpoint's weights (a ``.bin`` or a converted directory)


def materialize_tiny(cfg: ModelConfig) -> LocalFiles:
    """The tiny kinds' checkpoints, written by their builders if not yet cached; nothing for any other model."""
    if cfg.kind == "tiny":
        return LocalFiles(path=str(ensure_tiny_checkpoint(cfg.cache_dir, seed=cfg.seed)))
    if cfg.kind == "awaker2_5_vl" and cfg.checkpoint == TINY_CHECKPOINT:
        base, checkpoint = tiny_awaker_paths(cfg.cache_dir, seed=cfg.seed)
        return LocalFiles(path=str(base), checkpoint=checkpoint)
    return LocalFiles()


def load_local(cfg: ModelConfig) -> VisionLanguageModel:
    """The local backend of ``cfg`` (Qwen2-VL, its tiny stand-in, or Awaker2.5-VL), loaded from files on disk."""
    files = materialize_tiny(cfg)
    if cfg.kind == "awaker2_5_vl":
        return AwakerModel(cfg, local_path=files.path, checkpoint=files.checkpoint)
    return load_qwen2_vl(cfg, local_path=files.path)
