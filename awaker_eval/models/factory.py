"""Model name -> loaded ``VisionLanguageModel``. The only place that maps ``model.kind`` to a class."""

from __future__ import annotations

from awaker_eval.config.schema import ModelConfig
from awaker_eval.models.base import VisionLanguageModel
from awaker_eval.models.peft_adapter import check_adapter_config

MODEL_KINDS = ("tiny", "qwen2_vl", "awaker2_5_vl", "openai_api")


def check_model_config(cfg: ModelConfig) -> None:
    """Fail fast (before loading anything) on a config that cannot work."""
    if cfg.kind not in MODEL_KINDS:
        raise ValueError(f"model.kind={cfg.kind!r} is unknown: use one of {', '.join(MODEL_KINDS)}")
    if cfg.kind == "qwen2_vl" and not cfg.path:
        raise ValueError("model=qwen2_vl needs model.path=<local checkpoint directory or hub id>")
    if cfg.kind == "openai_api" and not (cfg.base_url and cfg.api_model):
        raise ValueError("model=openai_api needs model.base_url=... and model.api_model=...")
    check_adapter_config(cfg)


def _checked_qwen2_vl(cfg: ModelConfig) -> VisionLanguageModel:
    """A Qwen2-VL checkpoint with its weights checked: checksums and header dtypes before ``from_pretrained``,
    finite values of every loaded parameter right after (one reduction per tensor, on the model's device)."""
    from awaker_eval.models.loading import resolve_checkpoint
    from awaker_eval.models.qwen2_vl import Qwen2VLModel
    from awaker_eval.models.weights_check import check_checkpoint_dir, check_finite

    if cfg.kind == "tiny":
        from awaker_eval.models.tiny import ensure_tiny_checkpoint

        path = str(ensure_tiny_checkpoint(cfg.cache_dir, seed=cfg.seed))
    else:
        path = resolve_checkpoint(cfg.path, cfg.revision, what="model.path")
    check_checkpoint_dir(path)
    model = Qwen2VLModel(cfg, local_path=path)
    check_finite(model.hf_model.named_parameters(), where=path)
    return model


def build_model(cfg: ModelConfig) -> VisionLanguageModel:
    check_model_config(cfg)
    if cfg.kind in ("tiny", "qwen2_vl"):
        return _checked_qwen2_vl(cfg)
    if cfg.kind == "awaker2_5_vl":
        from awaker_eval.models.awaker.backend import AwakerModel

        return AwakerModel(cfg)
    from awaker_eval.models.openai_api import OpenAIChatModel

    return OpenAIChatModel(cfg)
