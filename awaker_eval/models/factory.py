"""Model name -> loaded ``VisionLanguageModel``. The only place that maps ``model.kind`` to a backend.

Light on purpose (``preflight`` imports ``check_model_config``): the backends are imported when a model is built,
one import per family: ``models.materialize`` for the local ones (torch, transformers), ``models.openai_api``.
"""

from __future__ import annotations

from awaker_eval.config.schema import ModelConfig
from awaker_eval.models.base import VisionLanguageModel
from awaker_eval.models.options import TINY_CHECKPOINT
from awaker_eval.models.peft_adapter import check_adapter_config

MODEL_KINDS = ("tiny", "qwen2_vl", "awaker2_5_vl", "openai_api")


def check_model_config(cfg: ModelConfig) -> None:
    """Fail fast (before loading anything) on a config that cannot work."""
    if cfg.kind not in MODEL_KINDS:
        raise ValueError(f"model.kind={cfg.kind!r} is unknown: use one of {', '.join(MODEL_KINDS)}")
    if cfg.kind == "qwen2_vl" and not cfg.path:
        raise ValueError("model=qwen2_vl needs model.path=<local checkpoint directory or hub id>")
    if cfg.kind == "awaker2_5_vl" and cfg.checkpoint == TINY_CHECKPOINT and cfg.path:
        raise ValueError(f"model.checkpoint={TINY_CHECKPOINT} builds its own tiny base: leave model.path unset "
                         f"(got {cfg.path!r})")
    if cfg.kind == "openai_api" and not (cfg.base_url and cfg.api_model):
        raise ValueError("model=openai_api needs model.base_url=... and model.api_model=...")
    check_adapter_config(cfg)


def build_model(cfg: ModelConfig) -> VisionLanguageModel:
    """The model of ``cfg``: a tiny kind's checkpoint is written first, then every local one loads from its paths
    with its weights checked (``models.materialize``)."""
    check_model_config(cfg)
    if cfg.kind == "openai_api":
        from awaker_eval.models.openai_api import OpenAIChatModel

        return OpenAIChatModel(cfg)
    from awaker_eval.models.materialize import load_local

    return load_local(cfg)
