"""``AwakerModel``: the harness backend for Awaker2.5-VL (a Qwen2-VL processor + the routed model of this package).

Base config, tokenizer and processor come from ``model.path`` (``Qwen/Qwen2-VL-7B-Instruct`` or a local dir); the
weights come only from ``model.checkpoint`` (the released ``.bin``, a converted dir, or a hub id), loaded strictly.
``model.checkpoint=tiny`` (the offline tiny Awaker) is written by its builder before this backend is constructed
(``models/materialize.py``), which then gets both paths: this module only loads files, and imports no builder.
Every generate / score call runs inside a routing session whose spans come from the final left-padded ids, and each
output carries its routing record (expert and p per router, prefill and decode).
"""

from __future__ import annotations

import dataclasses
import gc
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from transformers import AutoProcessor, GenerationConfig

from awaker_eval.models.awaker.adapter_checks import epilogue_check, fast_mode_check, routing_check
from awaker_eval.models.awaker.build import build_awaker, load_config
from awaker_eval.models.awaker.prompt_pos import SpecialTokens, prompt_spans
from awaker_eval.models.awaker.settings import ROUTER_ORDER
from awaker_eval.models.awaker.checkpoint import adapter_settings_for, read_checkpoint
from awaker_eval.models.awaker.release import BASE_FILES, RELEASED_FILE, full_revision
from awaker_eval.models.options import TINY_CHECKPOINT
from awaker_eval.models.loading import (CheckpointNotFound, looks_like_local_path, resolve_checkpoint,
                                        weights_identity)
from awaker_eval.models.base import GenerationSettings
from awaker_eval.models.fast_path_checks import padding_checks, vision_checks
from awaker_eval.models.qwen2_vl import Qwen2VLModel


# Config, tokenizer, processor, generation config and chat template of the base repo: never its weights (~16 GB),
# which the Awaker checkpoint replaces anyway.
def resolve_awaker_base(path: str | None, revision: str | None) -> str:
    """Local directory of the base config/tokenizer/processor: a local path as is, a hub id without its weights."""
    if path and not looks_like_local_path(path):
        revision = full_revision(path, revision)
    return resolve_checkpoint(path, revision, what="model.path", allow_patterns=BASE_FILES)


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
        return Path(hf_hub_download(ref, RELEASED_FILE, revision=full_revision(ref, revision)))
    except Exception as exc:  # offline, missing revision, auth
        raise CheckpointNotFound(
            f"model.checkpoint={ref!r} (revision {revision or 'main'}): cannot get {RELEASED_FILE} "
            f"({type(exc).__name__}: {exc}); download it on a connected machine or pass a local path"
        ) from exc


def row_records(calls, n_layers: int, mode: str, decoded: list[bool] | None = None) -> list[dict[str, Any]]:
    """Per-row routing of one call: ``{"mode", "routers", "prefill": {"expert", "p"}, "decode": ... | None}``.

    ``expert`` / ``p`` are ``[layer][router]`` lists in ``routers`` order; fork decode steps all share one decision,
    so the first decode step stands for all of them. ``decoded[b]`` False marks a row that stopped after its first
    token: the batch's decode steps produced nothing for it, so its ``decode`` is None, as when it runs alone.
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
        if decode is not None and (decoded is None or decoded[b]):
            record["decode"] = {"expert": decode[0][b], "p": [[round(p, 5) for p in ps] for ps in decode[1][b]]}
        rows.append(record)
    return rows


class AwakerModel(Qwen2VLModel):
    """Qwen2-VL backend whose weights, adapters and routing come from the Awaker checkpoint.

    ``local_path`` (the base directory) and ``checkpoint`` (the weights) are files on disk when given; otherwise
    ``model.path`` / ``model.checkpoint`` are resolved (a hub id downloaded). ``model.checkpoint=tiny`` comes with
    both, from ``models.materialize``."""

    def __init__(self, cfg, local_path: str | None = None, checkpoint: Path | None = None):
        if checkpoint is None and cfg.checkpoint == TINY_CHECKPOINT:
            raise ValueError(f"model.checkpoint={TINY_CHECKPOINT} is written by its builder first: load it with "
                             f"models.factory.build_model, which passes its paths here")
        self._checkpoint = checkpoint
        super().__init__(cfg, local_path=local_path or resolve_awaker_base(cfg.path, cfg.revision))

    def _fast_path_checks(self, mode: str, reuse_vision: bool, generation: GenerationSettings):
        """Fast mode first (its fallback reloads the model), then the vision tower, the adapters' epilogue (when
        the parity modules run it), routing, and the padding path of the run's mode."""
        if self.cfg.adapter_dtype_mode == "fast":
            yield fast_mode_check(self)
        yield from vision_checks(self, reuse_vision)
        if self.cfg.adapter_dtype_mode == "parity":
            yield epilogue_check(self)
        yield routing_check(self)
        yield from padding_checks(self, mode, generation)

    def reload_in_parity(self) -> None:
        """Fast mode's fallback: the merged q/k/v weights cannot be unmerged exactly, so the model is loaded again
        in ``parity`` (the old one released first)."""
        self.hf_model = self.routing = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        AwakerModel.__init__(self, dataclasses.replace(self.cfg, adapter_dtype_mode="parity"), self.local_path,
                             self._checkpoint)

    def _load_hf(self) -> tuple[Any, Any]:
        processor = AutoProcessor.from_pretrained(self.local_path, trust_remote_code=self.cfg.trust_remote_code)
        self.checkpoint_path = self._checkpoint or resolve_awaker_checkpoint(
            self.cfg.checkpoint, self.cfg.checkpoint_revision)
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

    @contextmanager
    def _generation_context(self, inputs: Any):
        """A routing session over the final left-padded ids; also notes which rows were still generating when the
        first decode step ran (its input is each row's first new token, or a pad after a stop)."""
        spans = prompt_spans(inputs["input_ids"], self.special_tokens, inputs.get("attention_mask"))
        self._first_decode_ids = None

        def note_first_decode(module, args, kwargs):
            ids = kwargs.get("input_ids")
            if self._first_decode_ids is None and len(self.routing.calls) == 1 and ids is not None:
                self._first_decode_ids = ids[:, -1].tolist()

        handle = self.hf_model.register_forward_pre_hook(note_first_decode, with_kwargs=True)
        try:
            with self.routing.session(inputs["input_ids"], spans):
                yield
        finally:
            handle.remove()

    def _routing_records(self) -> list[dict] | None:
        n_layers = self.hf_model.config.text_config.num_hidden_layers
        decoded = None
        if self._first_decode_ids is not None:
            eos = self.eos_token_id if isinstance(self.eos_token_id, (list, tuple)) else [self.eos_token_id]
            stops = {*eos, self.pad_token_id}
            decoded = [t not in stops for t in self._first_decode_ids]
        return row_records(self.routing.calls, n_layers, self.routing.active_mode, decoded)

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

