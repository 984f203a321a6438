"""``AwakerModel``: the harness backend for Awaker2.5-VL (a Qwen2-VL processor + the routed model of this package).

Base config, tokenizer and processor come from ``model.path`` (``Qwen/Qwen2-VL-7B-Instruct`` or a local dir); the
weights come only from ``model.checkpoint`` (the released ``.bin``, a converted dir, or a hub id), loaded strictly.
Every generate / score call runs inside a routing session whose spans come from the final left-padded ids, and each
output carries its routing record (expert and p per router, prefill and decode).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from awaker_eval.models.awaker.prompt_pos import SpecialTokens, prompt_spans
from awaker_eval.models.awaker.settings import ROUTER_ORDER, AdapterSettings
from awaker_eval.models.loading import CheckpointNotFound, looks_like_local_path, weights_identity
from awaker_eval.models.qwen2_vl import Qwen2VLModel

RELEASED_FILE = "pytorch_model.bin"
ADAPTER_FILE = "adapter.json"


def resolve_awaker_checkpoint(ref: str | None, revision: str | None) -> Path:
    """A local ``.bin`` / converted dir as is; a hub id → the released file from the hub cache (or a download)."""
    if not ref:
        raise CheckpointNotFound("model.checkpoint is not set: pass a local .bin / converted dir or a hub id")
    if looks_like_local_path(ref):
        path = Path(ref).expanduser()
        if not path.exists():
            raise CheckpointNotFound(f"model.checkpoint={ref!r} does not exist")
        return path
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(ref, RELEASED_FILE, revision=revision))
    except Exception as exc:  # offline, missing revision, auth
        raise CheckpointNotFound(
            f"model.checkpoint={ref!r} (revision {revision or 'main'}): cannot get {RELEASED_FILE} "
            f"({type(exc).__name__}: {exc}); download it on a connected machine or pass a local path"
        ) from exc


def adapter_settings_for(checkpoint: Path) -> AdapterSettings:
    """``adapter.json`` beside (or inside) the checkpoint when present, else the released settings (r=256)."""
    folder = checkpoint if checkpoint.is_dir() else checkpoint.parent
    found = folder / ADAPTER_FILE
    return AdapterSettings.from_json(found) if found.exists() else AdapterSettings()


def row_records(calls, n_layers: int, mode: str) -> list[dict[str, Any]]:
    """Per-row routing of one call: ``{"mode", "routers", "prefill": {"expert", "p"}, "decode": ... | None}``.

    ``expert`` / ``p`` are ``[layer][router]`` lists in ``routers`` order; fork decode steps all share one decision,
    so the first decode step stands for all of them.
    """
    if not calls:
        return []

    def table(call) -> tuple[list, list]:
        s = call.stacked(2 * n_layers)
        shape = (-1, n_layers, len(ROUTER_ORDER))
        return s["expert"].reshape(shape).tolist(), s["p"].float().reshape(shape).tolist()

    prefill = table(calls[0])
    decode_call = next((c for c in calls[1:] if c.phase == "decode"), None)
    decode = table(decode_call) if decode_call is not None else None
    rows = []
    for b in range(len(prefill[0])):
        record = {"mode": mode, "routers": list(ROUTER_ORDER),
                  "prefill": {"expert": prefill[0][b], "p": [[round(p, 5) for p in ps] for ps in prefill[1][b]]},
                  "decode": None}
        if decode is not None:
            record["decode"] = {"expert": decode[0][b], "p": [[round(p, 5) for p in ps] for ps in decode[1][b]]}
        rows.append(record)
    return rows


class AwakerModel(Qwen2VLModel):
    """Qwen2-VL backend whose weights, adapters and routing come from the Awaker checkpoint."""

    def _load_hf(self) -> tuple[Any, Any]:
        from transformers import AutoProcessor, GenerationConfig

        from awaker_eval.models.awaker.build import build_awaker, load_config
        from awaker_eval.models.awaker.checkpoint import read_checkpoint

        processor = AutoProcessor.from_pretrained(self.local_path, trust_remote_code=self.cfg.trust_remote_code)
        self.checkpoint_path = resolve_awaker_checkpoint(self.cfg.checkpoint, self.cfg.checkpoint_revision)
        self.adapter = adapter_settings_for(self.checkpoint_path)
        model, self.routing = build_awaker(
            load_config(self.local_path), self.adapter, read_checkpoint(self.checkpoint_path),
            dtype=self.cfg.dtype, device=self.cfg.device, attn_implementation=self.cfg.attn_implementation,
            routing_mode=self.cfg.routing_mode, adapter_dtype_mode=self.cfg.adapter_dtype_mode,
            where=str(self.checkpoint_path),
        )
        if (Path(self.local_path) / "generation_config.json").exists():
            model.generation_config = GenerationConfig.from_pretrained(self.local_path)
        self.special_tokens = SpecialTokens.from_tokenizer(processor.tokenizer)
        return model, processor

    def _generation_context(self, inputs: Any):
        spans = prompt_spans(inputs["input_ids"], self.special_tokens, inputs.get("attention_mask"))
        return self.routing.session(inputs["input_ids"], spans)

    def _routing_records(self) -> list[dict] | None:
        n_layers = self.hf_model.config.text_config.num_hidden_layers
        return row_records(self.routing.calls, n_layers, self.routing.active_mode)

    def fingerprint(self) -> dict[str, Any]:
        ckpt = self.checkpoint_path
        return super().fingerprint() | {
            "checkpoint": self.cfg.checkpoint,
            "checkpoint_revision": self.cfg.checkpoint_revision,
            "checkpoint_weights": weights_identity(ckpt if ckpt.is_dir() else ckpt.parent),
            "routing_mode": self.cfg.routing_mode,
            "adapter_dtype_mode": self.cfg.adapter_dtype_mode,
            "adapter": {"r": self.adapter.r, "lora_alpha": self.adapter.lora_alpha, "experts": self.adapter.num_experts},
        }

