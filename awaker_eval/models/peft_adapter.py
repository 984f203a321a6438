"""Fine-tuned PEFT (LoRA) adapters on a Qwen2-VL base: ``model=qwen2_vl model.adapter=DIR``.

Training frameworks save a fine-tune as ``adapter_config.json`` + ``adapter_model.safetensors``. The adapter is
resolved offline-first (a local folder, or a hub id at a pinned ``model.adapter_revision``), loaded with
``peft`` and merged into the base weights (so the rest of the backend sees a plain Qwen2-VL), and recorded in
the model fingerprint: path, revision, a hash of the adapter weights and the adapter config.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from awaker_eval.config.schema import ModelConfig
from awaker_eval.models.loading import CheckpointNotFound, looks_like_local_path, resolve_checkpoint

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_KINDS = ("qwen2_vl", "tiny")  # backends that load through Qwen2VLModel's from_pretrained path


def check_adapter_config(cfg: ModelConfig) -> None:
    """Fail before loading: adapters only on Qwen2-VL bases; a hub adapter needs a pinned revision; a local one
    must hold ``adapter_config.json``."""
    if not cfg.adapter:
        if cfg.adapter_revision:
            raise ValueError("model.adapter_revision is set but model.adapter is not")
        return
    if cfg.kind not in ADAPTER_KINDS:
        raise ValueError(f"model.adapter applies to a Qwen2-VL base (model=qwen2_vl), not model.kind={cfg.kind!r}")
    if looks_like_local_path(cfg.adapter):
        if not (Path(cfg.adapter).expanduser() / ADAPTER_CONFIG).is_file():
            raise ValueError(f"model.adapter={cfg.adapter!r} has no {ADAPTER_CONFIG}: pass the folder a PEFT "
                             "training run saved (adapter_config.json + adapter_model.safetensors)")
    elif not cfg.adapter_revision:
        raise ValueError(f"model.adapter={cfg.adapter!r} is a hub id: pin it with model.adapter_revision=<commit>")


def adapter_dir(cfg: ModelConfig) -> Path:
    """The local folder of ``cfg.adapter`` (a hub adapter comes from the cache or is fetched at its revision)."""
    path = Path(resolve_checkpoint(cfg.adapter, cfg.adapter_revision, what="model.adapter"))
    if not (path / ADAPTER_CONFIG).is_file():
        raise CheckpointNotFound(f"model.adapter={cfg.adapter!r}: {path} has no {ADAPTER_CONFIG}")
    return path


def apply_adapter(hf_model: Any, cfg: ModelConfig) -> Any:
    """``hf_model`` with the adapter of ``cfg`` merged in; unchanged when no adapter is configured."""
    if not cfg.adapter:
        return hf_model
    from peft import PeftModel

    peft_model = PeftModel.from_pretrained(hf_model, str(adapter_dir(cfg)), is_trainable=False)
    return peft_model.merge_and_unload()


def adapter_fingerprint(cfg: ModelConfig) -> dict[str, Any]:
    """What identifies the adapter (empty without one, so base-model fingerprints are unchanged)."""
    if not cfg.adapter:
        return {}
    path = adapter_dir(cfg)
    digest = hashlib.sha256()
    for weights in sorted(path.glob("adapter_model*")):  # adapters are small: hash the whole files
        digest.update(weights.name.encode())
        digest.update(weights.read_bytes())
    config = json.loads((path / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    return {"adapter": {"path": cfg.adapter, "revision": cfg.adapter_revision,
                        "weights_sha256": digest.hexdigest()[:16], "config": config}}
