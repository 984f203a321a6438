"""Replacement Linears for the decoder layers: plain LoRA (q/k/v) and mixture of LoRA experts (o/gate/up/down).

Submodule and parameter names follow the released checkpoint (``weight``/``bias`` of the replaced Linear,
``lora_A.default``, ``lora_moe_A.<e>``, ``w_gate``, ``ln``) so that loading is a pure key-prefix rewrite. The math
(spec §2.1, §2.4) keeps the released dtype walk: adapter terms are summed in fp32 and added to the fp32-promoted base
output, then rounded once to the input dtype.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers.models.qwen2_vl.modeling_qwen2_vl import Qwen2VLRMSNorm

from awaker_eval.models.awaker.epilogue import exact_scale, fused_epilogue
from awaker_eval.models.awaker.settings import AdapterSettings


def _lora_pair(names, in_features: int, out_features: int, r: int, device, dtype) -> tuple[nn.ModuleDict, nn.ModuleDict]:
    a = nn.ModuleDict({n: nn.Linear(in_features, r, bias=False, device=device, dtype=dtype) for n in names})
    b = nn.ModuleDict({n: nn.Linear(r, out_features, bias=False, device=device, dtype=dtype) for n in names})
    return a, b


class _AdaptedLinear(nn.Module):
    """The base Linear's parameters kept at ``weight`` / ``bias`` (no ``base_layer`` level)."""

    def __init__(self, in_features: int, out_features: int, bias: bool, device=None, dtype=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features, device=device, dtype=dtype))
        self.bias = nn.Parameter(torch.empty(out_features, device=device, dtype=dtype)) if bias else None

    def base(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)


class LoraLinear(_AdaptedLinear):
    """``W x + b + scaling * B(A(x))``; the LoRA branch runs in the dtype of A/B (fp32 in parity mode)."""

    def __init__(self, in_features, out_features, bias, settings: AdapterSettings, device=None, dtype=None):
        super().__init__(in_features, out_features, bias, device, dtype)
        self.adapter_name = settings.lora_adapter_name
        self.scaling = settings.scaling
        self.lora_A, self.lora_B = _lora_pair([self.adapter_name], in_features, out_features, settings.r, device, dtype)

        self.merged = False  # fast mode: the LoRA product is folded into ``weight`` (merge_into_base)

    @torch.no_grad()
    def merge_into_base(self) -> None:
        """``W += s·B·A`` (formed in fp32, rounded once to W's dtype): the q/k/v LoRA then costs nothing at run
        time. Only for ``adapter_dtype_mode=fast``: it rounds differently from the released flow."""
        a, b = self.lora_A[self.adapter_name].weight, self.lora_B[self.adapter_name].weight
        self.weight.copy_((self.weight.float() + (b.float() @ a.float()) * self.scaling).to(self.weight.dtype))
        self.merged = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.merged:
            return self.base(x)
        a, b = self.lora_A[self.adapter_name], self.lora_B[self.adapter_name]
        delta, scale = branch_scale(b(a(x.to(a.weight.dtype))), self.scaling)
        return fused_epilogue(self.base(x), delta, scale, x.dtype)


def groups_from_ids(ids: list[int], device) -> list[tuple[int, torch.Tensor | None]]:
    """``[(e, rows)]`` for every expert in use (host ids); ``rows`` is None when all samples use ``e``."""
    used = sorted(set(ids))
    if len(used) == 1:
        return [(used[0], None)]
    return [(e, torch.tensor([i for i, k in enumerate(ids) if k == e], device=device)) for e in used]


def expert_groups(expert: torch.Tensor) -> list[tuple[int, torch.Tensor | None]]:
    """``groups_from_ids`` of one router's device decision (one host sync; ``routing.decide_all`` batches them).

    Computed once per router decision so the routed modules do not synchronise with the device per expert.
    """
    return groups_from_ids(expert.tolist(), expert.device)


def branch_scale(y: torch.Tensor, scaling: float) -> tuple[torch.Tensor, float]:
    """``(y, scaling)`` when the epilogue can apply the scaling exactly in fp32 (a power of two); otherwise
    ``(y * scaling, 1.0)`` rounded in the branch dtype as the released flow does."""
    return (y, scaling) if exact_scale(scaling) else (y * scaling, 1.0)


def expert_rows(
    x: torch.Tensor, groups: list[tuple[int, torch.Tensor | None]], lora_A: nn.ModuleDict, lora_B: nn.ModuleDict,
    expert_names: tuple[str, ...],
) -> torch.Tensor:
    """Each row's own expert output ``B_k(A_k(x_b))`` (unscaled, expert dtype): one matmul per expert in use over
    its rows, placed by an exact copy (no fp32 scatter buffer)."""
    out = None
    for e, rows in groups:
        name = expert_names[e]
        if rows is None:
            return lora_B[name](lora_A[name](x))
        ye = lora_B[name](lora_A[name](x.index_select(0, rows)))
        if out is None:
            out = torch.empty(*x.shape[:-1], ye.shape[-1], dtype=ye.dtype, device=x.device)
        out.index_copy_(0, rows, ye)
    return out


def moe_delta(
    x: torch.Tensor,
    p: torch.Tensor,
    groups: list[tuple[int, torch.Tensor | None]],
    lora_A: nn.ModuleDict,
    lora_B: nn.ModuleDict,
    expert_names: tuple[str, ...],
    global_name: str,
    scaling: float,
) -> torch.Tensor:
    """fp32 ``p² E_k(x) + (1 − p) G(x)`` per sample (spec §2.4 dtype walk); x is ``[B, ..., in]``, p ``[B]`` fp16.

    The unfused form, literally as the spec writes it: the reference the fused epilogue is checked against (tests,
    GPU script); the modules run ``expert_rows`` + ``fused_epilogue``."""
    w = p.view(-1, *([1] * (x.dim() - 1)))
    acc = None
    for e, rows in groups:
        name = expert_names[e]
        xe = x if rows is None else x.index_select(0, rows)
        we = w if rows is None else w.index_select(0, rows)
        ye = (lora_B[name](lora_A[name](xe)) * scaling) * we  # expert dtype × fp16 → fp32
        if rows is None:
            acc = ye.float()
        else:
            if acc is None:
                acc = torch.zeros(*x.shape[:-1], ye.shape[-1], dtype=torch.float32, device=x.device)
            acc.index_add_(0, rows, ye.float())
    glob = lora_B[global_name](lora_A[global_name](x)) * scaling
    return acc * w + glob * (1 - w)  # (1 − p) formed in fp16; sum in fp32


class MoeLoraLinear(_AdaptedLinear):
    """Routed Linear. Owners (o_proj, gate_proj) hold a router (``ln`` + ``w_gate``); up/down keep a plain Python
    reference to gate_proj (not a child module, so the key set matches the checkpoint)."""

    def __init__(
        self, in_features, out_features, bias, settings: AdapterSettings, router_hidden: int | None,
        device=None, dtype=None,
    ):
        super().__init__(in_features, out_features, bias, device, dtype)
        self.expert_names = settings.expert_names
        self.global_name = settings.global_expert
        self.scaling = settings.scaling
        names = list(self.expert_names) + [self.global_name]
        self.lora_moe_A, self.lora_moe_B = _lora_pair(names, in_features, out_features, settings.r, device, dtype)
        self.router_index: int | None = None
        if router_hidden is not None:
            self.ln = Qwen2VLRMSNorm(router_hidden, eps=settings.router_rms_norm_eps).to(device=device, dtype=dtype)
            self.w_gate = nn.Linear(router_hidden, settings.num_experts, bias=True, device=device, dtype=dtype)
            self.gates_tmp = settings.gates_tmp
        object.__setattr__(self, "router_owner", self if router_hidden is not None else None)
        object.__setattr__(self, "routing_state", None)

    @property
    def has_router(self) -> bool:
        return self.router_owner is self

    def attach(self, state, owner: "MoeLoraLinear") -> None:
        """Connect to the shared routing state and to the module whose router decides for this one."""
        if not owner.has_router:
            raise ValueError("the router owner must be a MoeLoraLinear with its own router")
        object.__setattr__(self, "routing_state", state)
        object.__setattr__(self, "router_owner", owner)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.routing_state is None:
            raise RuntimeError("MoeLoraLinear used without a routing state: build the model with build.build_awaker")
        decision = self.routing_state.decision(self.router_owner)
        expert, scale = branch_scale(
            expert_rows(x, decision.groups, self.lora_moe_A, self.lora_moe_B, self.expert_names), self.scaling)
        glob, _ = branch_scale(self.lora_moe_B[self.global_name](self.lora_moe_A[self.global_name](x)), self.scaling)
        return fused_epilogue(self.base(x), glob, scale, x.dtype, expert=expert, p=decision.p)

    def unfused(self, x: torch.Tensor) -> torch.Tensor:
        """The spec-literal unfused output (``moe_delta``), for checks of the fused path."""
        decision = self.routing_state.decision(self.router_owner)
        delta = moe_delta(x, decision.p, decision.groups, self.lora_moe_A, self.lora_moe_B,
                          self.expert_names, self.global_name, self.scaling)
        return (self.base(x).float() + delta).to(x.dtype)
