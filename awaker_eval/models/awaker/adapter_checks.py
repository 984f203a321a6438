"""Run-start self-checks of the Awaker adapters' fast paths, on the loaded weights at their real shapes.

Tolerances (recorded with each result):
- fused adapter epilogue (the triton kernel on CUDA, its torch form elsewhere) vs the spec-literal unfused path
  (``unfused``), on layer 0's module of each distinct shape (q/k/v LoRA, o_proj, gate/up, down): bit-equal, which
  is the path's claim;
- routing decided once per decoder call (decode decisions reused) vs each router deciding at its first use in every
  call: texts and routing records of a 3-token greedy probe equal;
- ``adapter_dtype_mode=fast`` vs ``parity`` (the released dtype walk), layer 0's modules: fast rounds the adapter
  delta in the model dtype and merges the q/k/v LoRA into rounded weights, so the bound is 2 rounding steps of the
  model dtype at the output's magnitude plus 1/16 (bf16, fp16) or 1e-4 (fp32) of the largest adapter delta; a
  wrong expert, scale or weight is of the order of the delta itself.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
import torch.nn.functional as F

from awaker_eval.models.awaker.adapters import LoraLinear, MoeLoraLinear, groups_from_ids
from awaker_eval.models.awaker.build import text_layers
from awaker_eval.models.awaker.epilogue import kernel_name
from awaker_eval.models.awaker.routing import Decision
from awaker_eval.models.base import GenerationSettings
from awaker_eval.models.fast_path_checks import rounding_steps
from awaker_eval.models.probe_inputs import probe_conversations
from awaker_eval.models.self_checks import Probe, SelfCheck

PROBE_TOKENS = 5  # per row: an odd count, so no row ends on a kernel block boundary
PROBE_P = (0.6, 0.85)  # fp16 routing weights of the two probe rows (p² and 1 − p both matter)


def layer0_modules(hf_model) -> list[tuple[str, torch.nn.Module]]:
    """Layer 0's adapted modules, one per distinct (kind, in, out) shape: q/k/v, o_proj, gate/up, down."""
    found, seen = [], set()
    for name, module in text_layers(hf_model)[0].named_modules():
        if isinstance(module, (LoraLinear, MoeLoraLinear)):
            key = (type(module).__name__, module.in_features, module.out_features)
            if key not in seen:
                seen.add(key)
                found.append((name, module))
    return found


class _FixedRouting:
    """Stands in for the routing state while a probe calls a routed module: one decision for every router."""

    def __init__(self, decision: Decision):
        self.fixed = decision

    def decision(self, owner) -> Decision:
        return self.fixed


@contextlib.contextmanager
def fixed_routing(modules, num_experts: int, device) -> Iterator[None]:
    """Two probe rows routed to two different experts with weights ``PROBE_P``."""
    expert = torch.tensor([0, 1 % num_experts], device=device)
    p = torch.tensor(PROBE_P, dtype=torch.float16, device=device)
    empty = torch.zeros(2, num_experts, device=device)
    decision = Decision(expert=expert, p=p, probs=empty.half(), logits=empty,
                        groups=groups_from_ids(expert.tolist(), device))
    routed = [m for m in modules if isinstance(m, MoeLoraLinear)]
    saved = [m.routing_state for m in routed]
    for m in routed:
        object.__setattr__(m, "routing_state", _FixedRouting(decision))
    try:
        yield
    finally:
        for m, state in zip(routed, saved):
            object.__setattr__(m, "routing_state", state)


def _probe_input(module, dtype, device, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(2, PROBE_TOKENS, module.in_features, generator=gen).to(device, dtype)


def _check(model, name: str, probe, fall_back, adopt=None) -> SelfCheck:
    return SelfCheck(name=name, device=str(model.device), dtype=str(model.dtype).replace("torch.", ""), probe=probe,
                     fall_back=fall_back, adopt=adopt)


def epilogue_check(model) -> SelfCheck:
    """The fused epilogue (what ``forward`` runs) vs ``unfused`` on each distinct module shape of layer 0."""
    modules = layer0_modules(model.hf_model)

    def probe() -> Probe:
        worst, shapes = 0.0, []
        with torch.inference_mode(), fixed_routing([m for _, m in modules], model.adapter.num_experts, model.device):
            for seed, (name, module) in enumerate(modules):
                x = _probe_input(module, model.dtype, model.device, seed)
                worst = max(worst, float((module(x).float() - module.unfused(x).float()).abs().max()))
                shapes.append(f"{name} {module.in_features}->{module.out_features}")
        kernel = kernel_name(model.device, model.adapter.scaling)
        return Probe(worst, 0.0, shapes={"modules": shapes, "tokens": [2, PROBE_TOKENS]}, detail=f"kernel {kernel}")

    def fall_back() -> str:
        for module in model.hf_model.modules():
            if isinstance(module, (LoraLinear, MoeLoraLinear)):
                module.fused = False
        return "the unfused adapter epilogue (spec-literal, torch)"

    return _check(model, "fused_epilogue", probe, fall_back)


def _released_lora(module: LoraLinear, x: torch.Tensor) -> torch.Tensor:
    """The released flow for a merged module: unmerged base + fp32 LoRA branch, rounded once."""
    a, b = module.lora_A[module.adapter_name].weight, module.lora_B[module.adapter_name].weight
    base = F.linear(x, module.unmerged_weight, module.bias)
    delta = F.linear(F.linear(x.float(), a.float()), b.float()) * module.scaling
    return base, (base.float() + delta).to(x.dtype)


def _fast_tolerance(dtype, out: torch.Tensor, base: torch.Tensor) -> float:
    delta = float((out.float() - base.float()).abs().max())
    share = 1e-4 if dtype == torch.float32 else 1 / 16
    return rounding_steps(float(out.float().abs().max()), dtype, 2) + share * delta


def fast_mode_check(model) -> SelfCheck:
    """``adapter_dtype_mode=fast`` (merged q/k/v, batched mixture) vs the released dtype walk, layer 0."""
    modules = layer0_modules(model.hf_model)

    def probe() -> Probe:
        worst = (0.0, 0.0, 0.0)  # (ratio, diff, tolerance)
        with torch.inference_mode(), fixed_routing([m for _, m in modules], model.adapter.num_experts, model.device):
            for seed, (_, module) in enumerate(modules):
                x = _probe_input(module, model.dtype, model.device, seed)
                if isinstance(module, LoraLinear):
                    base, reference = _released_lora(module, x)
                else:
                    base, reference = module.base(x), module.unfused(x)
                diff = float((module(x).float() - reference.float()).abs().max())
                tolerance = _fast_tolerance(model.dtype, reference, base)
                worst = max(worst, (diff / tolerance if tolerance else float(diff > 0), diff, tolerance))
        return Probe(worst[1], worst[2], shapes={"modules": [n for n, _ in modules], "tokens": [2, PROBE_TOKENS]})

    def fall_back() -> str:
        model.reload_in_parity()
        return "model.adapter_dtype_mode=parity (the model reloaded with the released dtype walk)"

    return _check(model, "adapter_dtype_mode_fast", probe, fall_back)


def routing_check(model) -> SelfCheck:
    """Routing decided once per call (eager, decode decisions reused) vs lazily per router in every call."""
    settings = GenerationSettings(max_new_tokens=3)

    def probe() -> Probe:
        prepared = model.prepare(probe_conversations())
        eager = model.generate(prepared, settings)
        saved = model.routing.owners
        model.routing.owners = {}
        try:
            lazy = model.generate(prepared, settings)
        finally:
            model.routing.owners = saved
        exact = [f"row {i} {what}" for i, (a, b) in enumerate(zip(lazy, eager))
                 for what, same in (("text", a.text == b.text), ("routing", a.routing == b.routing)) if not same]
        return Probe(0.0, 0.0, shapes={"rows": len(eager), "new_tokens": settings.max_new_tokens}, exact=exact)

    def fall_back() -> str:
        model.routing.owners = {}
        return "each router decided at its first use in every decoder call"

    return _check(model, "routing_once_per_call", probe, fall_back)
