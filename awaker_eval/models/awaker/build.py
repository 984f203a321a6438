"""Building Awaker2.5-VL: Qwen2-VL skeleton on the meta device, adapters injected, checkpoint assigned strictly.

No full fp32 copy is ever made: the meta skeleton holds no memory, and each checkpoint tensor is moved to its target
dtype/device once before ``load_state_dict(strict=True, assign=True)``. Non-persistent rotary buffers, which the
meta build leaves empty, are re-created afterwards in fp32 (the model is never ``.to(dtype)``-cast as a whole, which
would round ``inv_freq`` to bf16; see the golden README).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

from awaker_eval.models.awaker.adapters import LoraLinear, MoeLoraLinear
from awaker_eval.models.awaker.checkpoint import load_into
from awaker_eval.models.awaker.routing import RoutingState, install_hook
from awaker_eval.models.awaker.settings import LORA_TARGETS, ROUTER_OWNERS, AdapterSettings
from awaker_eval.models.options import ADAPTER_DTYPE_MODES

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def load_config(source: str | Path | Mapping[str, Any]) -> Qwen2VLConfig:
    """Qwen2-VL config from a dict, a ``config.json`` file or a directory holding one (old flat layout accepted)."""
    if isinstance(source, Mapping):
        return Qwen2VLConfig.from_dict(dict(source))
    path = Path(source)
    path = path / "config.json" if path.is_dir() else path
    return Qwen2VLConfig.from_dict(json.loads(path.read_text()))


def text_layers(model: torch.nn.Module) -> torch.nn.ModuleList:
    return model.model.language_model.layers


def inject_adapters(model: torch.nn.Module, settings: AdapterSettings) -> None:
    """Replace the 7 Linears of every decoder layer (same device/dtype as the originals, values not copied)."""
    hidden = model.config.text_config.hidden_size
    for index, layer in enumerate(text_layers(model)):
        for parent, name in [(layer.self_attn, n) for n in LORA_TARGETS + ("o_proj",)] + [
            (layer.mlp, n) for n in ("gate_proj", "up_proj", "down_proj")
        ]:
            old = getattr(parent, name)
            common = dict(device=old.weight.device, dtype=old.weight.dtype)
            args = (old.in_features, old.out_features, old.bias is not None, settings)
            if name in LORA_TARGETS:
                new = LoraLinear(*args, **common)
            else:
                is_owner = ROUTER_OWNERS[name] == name
                new = MoeLoraLinear(*args, router_hidden=hidden if is_owner else None, **common)
                if is_owner:
                    new.router_index = 2 * index + (0 if name == "o_proj" else 1)
            setattr(parent, name, new)


def routed_modules(model: torch.nn.Module):
    """``(module, owner)`` for every MoeLoraLinear, in layer order."""
    for layer in text_layers(model):
        modules = {"o_proj": layer.self_attn.o_proj}
        modules.update({n: getattr(layer.mlp, n) for n in ("gate_proj", "up_proj", "down_proj")})
        for name, module in modules.items():
            yield module, modules[ROUTER_OWNERS[name]]


def build_skeleton(config: Qwen2VLConfig, settings: AdapterSettings, attn_implementation: str = "sdpa"):
    """Qwen2-VL with Awaker adapters on the meta device (no memory; for key/shape checks and loading)."""
    config._attn_implementation = attn_implementation
    with torch.device("meta"):
        model = Qwen2VLForConditionalGeneration(config)
    inject_adapters(model, settings)
    return model.eval()


def install_routing(model: torch.nn.Module, mode: str = "fork", host_groups: bool = True) -> RoutingState:
    """One routing state per model: the decoder pre-hook writes it, every routed module reads it."""
    lm = model.model.language_model
    state = RoutingState(n_routers=2 * len(lm.layers), embed_tokens=lm.embed_tokens, mode=mode,
                         host_groups=host_groups)
    for module, owner in routed_modules(model):
        module.attach(state, owner)
        state.register_owner(owner)
    install_hook(lm, state)
    model.__dict__["awaker_routing"] = state
    return state


def dtype_plan(dtype: torch.dtype, adapter_dtype_mode: str = "parity") -> Callable[[str], torch.dtype]:
    """Per-key dtype: everything in ``dtype``; q/k/v LoRA A/B in fp32 in ``parity`` mode (the released flow).
    ``fast``: adapters in ``dtype``, the q/k/v LoRA merged into the base weights after loading and the routed experts
    stacked for batched matmuls (never the default; recorded in the model fingerprint as ``adapter_dtype_mode``)."""
    if adapter_dtype_mode not in ADAPTER_DTYPE_MODES:
        raise ValueError(f"adapter_dtype_mode {adapter_dtype_mode!r}: expected one of {ADAPTER_DTYPE_MODES}")

    def plan(key: str) -> torch.dtype:
        if adapter_dtype_mode == "parity" and (".lora_A." in key or ".lora_B." in key):
            return torch.float32
        return dtype

    return plan


def recreate_rotary_buffers(model: torch.nn.Module, device: torch.device) -> None:
    """Rebuild every module holding a non-persistent ``inv_freq`` (text and vision rotary) in fp32 on ``device``."""
    for name, module in list(model.named_modules()):
        if "inv_freq" in getattr(module, "_buffers", {}):
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            with torch.device(device):
                setattr(parent, child, type(module)(module.config))


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def build_awaker(
    config: Qwen2VLConfig,
    settings: AdapterSettings,
    state_dict: Mapping[str, torch.Tensor],
    dtype: str | torch.dtype = "bfloat16",
    device: str = "cpu",
    attn_implementation: str = "sdpa",
    routing_mode: str = "fork",
    adapter_dtype_mode: str = "parity",
    where: str = "checkpoint",
):
    """Meta skeleton → strict assign of ``state_dict`` (transformers-5 keys) → rotary buffers → routing installed."""
    torch_dtype = DTYPES[dtype] if isinstance(dtype, str) else dtype
    target = resolve_device(device)
    plan = dtype_plan(torch_dtype, adapter_dtype_mode)
    model = build_skeleton(config, settings, attn_implementation)
    load_into(model, state_dict, lambda key: (plan(key), target), where)
    recreate_rotary_buffers(model, target)
    leftover = [n for n, t in list(model.named_parameters()) + list(model.named_buffers()) if t.is_meta]
    if leftover:
        raise RuntimeError(f"tensors left on the meta device after loading: {leftover[:5]}")
    if adapter_dtype_mode == "fast":
        merge_lora_into_base(model)
        stack_routed_experts(model)
    state = install_routing(model, routing_mode, host_groups=adapter_dtype_mode != "fast")
    return model, state


def _for_each(model: torch.nn.Module, kind: type, method: str) -> int:
    """Call ``method`` on every ``kind`` submodule; how many there were."""
    modules = [m for m in model.modules() if isinstance(m, kind)]
    for module in modules:
        getattr(module, method)()
    return len(modules)


def merge_lora_into_base(model: torch.nn.Module) -> int:
    """Fast mode: fold every q/k/v LoRA into its base weight (the routed mixture stays; it is per sample). The first
    layer keeps its unmerged weights (one layer's q/k/v) for the run-start check against the released flow."""
    first = {id(m) for m in text_layers(model)[0].modules() if isinstance(m, LoraLinear)}
    modules = [m for m in model.modules() if isinstance(m, LoraLinear)]
    for module in modules:
        module.merge_into_base(keep_original=id(module) in first)
    return len(modules)


def stack_routed_experts(model: torch.nn.Module) -> int:
    """Fast mode: stack each routed Linear's expert and global A/B weights for batched matmuls (views, no copy
    kept: ``MoeLoraLinear.stack_experts``)."""
    return _for_each(model, MoeLoraLinear, "stack_experts")
