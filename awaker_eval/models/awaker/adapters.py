"""Replacement Linears for the decoder layers: plain LoRA (q/k/v) and mixture of LoRA experts (o/gate/up/down).

Submodule and parameter names follow the released checkpoint (``weight``/``bias`` of the replaced Linear,
``lora_A.default``, ``lora_moe_A.<e>``, ``w_gate``, ``ln``) so that loading is a pure key-prefix rewrite. The math
(spec §2.1, §2.4) keeps the released dtype walk: adapter terms are summed in fp32 and added to the fp32-promoted base
output, then rounded once to the input dtype.
``adapter_dtype_mode=fast`` (never the default) instead runs the mixture as batched matmuls in the model dtype on
stacked expert weights (``MoeLoraLinear.stack_experts``, ``fast_mixture``): different rounding, same routing.
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
    """The base Linear's parameters kept at ``weight`` / ``bias`` (no ``base_layer`` level). ``fused`` False (the
    run-start self-check's fallback) runs the spec-literal ``unfused`` form instead of the fused epilogue."""

    fused = True

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
        self.unmerged_weight: torch.Tensor | None = None

    @torch.no_grad()
    def merge_into_base(self, keep_original: bool = False) -> None:
        """``W += s·B·A`` (formed in fp32, rounded once to W's dtype): the q/k/v LoRA then costs nothing at run
        time. Only for ``adapter_dtype_mode=fast``: it rounds differently from the released flow. ``keep_original``
        keeps the unmerged ``W`` (the fast-mode self-check compares against the released flow with it)."""
        a, b = self.lora_A[self.adapter_name].weight, self.lora_B[self.adapter_name].weight
        self.unmerged_weight = self.weight.detach().clone() if keep_original else None
        self.weight.copy_((self.weight.float() + (b.float() @ a.float()) * self.scaling).to(self.weight.dtype))
        self.merged = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.merged:
            return self.base(x)
        if not self.fused:
            return self.unfused(x)
        a, b = self.lora_A[self.adapter_name], self.lora_B[self.adapter_name]
        delta, scale = branch_scale(b(a(x.to(a.weight.dtype))), self.scaling)
        return fused_epilogue(self.base(x), delta, scale, x.dtype)

    def unfused(self, x: torch.Tensor) -> torch.Tensor:
        """The released flow literally: ``base(x) + B(A(x))·s`` (branch in the dtype of A/B), rounded once."""
        a, b = self.lora_A[self.adapter_name], self.lora_B[self.adapter_name]
        return (self.base(x).float() + (b(a(x.to(a.weight.dtype))) * self.scaling).float()).to(x.dtype)


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


def host_groups(decision) -> list[tuple[int, torch.Tensor | None]]:
    """The decision's expert groups; computed here (one sync) when the routing state skipped them (fast mode),
    so a grouped path never runs on an empty list (which would silently drop the experts)."""
    return decision.groups or expert_groups(decision.expert)


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
        self.stacked: tuple[torch.Tensor, torch.Tensor] | None = None  # fast mode: (A_all, Bt_all), stack_experts

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
        if self.stacked is not None:
            key = (self.stacked[0].shape[0], self.scaling, x.dtype)  # the router's modules share one weight tensor
            if key not in decision.mixture:
                decision.mixture[key] = mixture_weights(decision.expert, decision.p, *key)
            return fast_mixture(x, self.base(x), self.stacked, decision.expert, decision.p, self.scaling,
                                decision.mixture[key])
        if not self.fused:
            return self.unfused(x)
        expert, scale = branch_scale(
            expert_rows(x, host_groups(decision), self.lora_moe_A, self.lora_moe_B, self.expert_names), self.scaling)
        glob, _ = branch_scale(self.lora_moe_B[self.global_name](self.lora_moe_A[self.global_name](x)), self.scaling)
        return fused_epilogue(self.base(x), glob, scale, x.dtype, expert=expert, p=decision.p)

    def unfused(self, x: torch.Tensor) -> torch.Tensor:
        """The spec-literal unfused output (``moe_delta``), for checks of the fused path."""
        decision = self.routing_state.decision(self.router_owner)
        delta = moe_delta(x, decision.p, host_groups(decision), self.lora_moe_A, self.lora_moe_B,
                          self.expert_names, self.global_name, self.scaling)
        return (self.base(x).float() + delta).to(x.dtype)

    @torch.no_grad()
    def stack_experts(self) -> None:
        """Fast-mode preparation: ``A_all [E+1, r, in]`` and ``Bt_all [E+1, r, out]`` (experts in order, then the
        global expert; B transposed), and every checkpoint-named ``lora_moe_A/B`` weight re-pointed to a view of
        them. The stacks own the storage, so this costs no memory beyond one module's copy while it runs, and the
        parameter names, shapes and values (``state_dict``) stay as loaded."""
        names = [*self.expert_names, self.global_name]
        a_all = torch.stack([self.lora_moe_A[n].weight for n in names])
        bt_all = torch.stack([self.lora_moe_B[n].weight.t() for n in names])
        for k, n in enumerate(names):
            a, b = self.lora_moe_A[n], self.lora_moe_B[n]
            a.weight = nn.Parameter(a_all[k], requires_grad=a.weight.requires_grad)
            b.weight = nn.Parameter(bt_all[k].t(), requires_grad=b.weight.requires_grad)
        self.stacked = (a_all, bt_all)


# Rows of at most this many tokens (decode steps) run every expert densely, reading each expert's weights once;
# longer rows (prefill) gather their own expert's weights, which costs a weight copy per row but 2 of E+1 experts'
# FLOPs. Break-even on an H100/H200 (~200 bf16 FLOP per HBM byte, E=4) is near 270 tokens.
DENSE_MAX_TOKENS = 256


def mixture_weights(expert: torch.Tensor, p: torch.Tensor, n_slots: int, scaling: float, dtype) -> torch.Tensor:
    """``[B, E+1]``: ``p²·s`` at each row's expert, ``(1 − p)·s`` at the global slot (last), 0 elsewhere; from the
    device decision, no host sync. (1 − p) is formed in fp16, as in the released flow."""
    w = torch.zeros(expert.shape[0], n_slots, dtype=torch.float32, device=expert.device)
    w.scatter_(1, expert.view(-1, 1), (p.float() * p.float() * scaling).view(-1, 1))
    w[:, -1] = (1 - p).float() * scaling
    return w.to(dtype)


def fast_mixture(
    x: torch.Tensor, base: torch.Tensor, stacked: tuple[torch.Tensor, torch.Tensor], expert: torch.Tensor,
    p: torch.Tensor, scaling: float, weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """``base + (p²·s)·B_k A_k x + ((1 − p)·s)·B_g A_g x`` in the model dtype: one matmul for both low-rank
    activations, one ``baddbmm`` / ``addmm`` that adds the delta to the base output (rounded once by the GEMM)."""
    a_all, bt_all = stacked
    slots, r = a_all.shape[0], a_all.shape[1]
    batch, out_features = x.shape[0], bt_all.shape[-1]
    xs, bs = x.reshape(batch, -1, x.shape[-1]), base.reshape(batch, -1, out_features)
    w = mixture_weights(expert, p, slots, scaling, x.dtype) if weights is None else weights
    if xs.shape[1] <= DENSE_MAX_TOKENS:  # every expert's activations, zero weight where a row does not use it
        h = F.linear(xs, a_all.reshape(slots * r, -1)).view(batch, -1, slots, r) * w.view(batch, 1, slots, 1)
        out = torch.addmm(bs.reshape(-1, out_features), h.reshape(-1, slots * r), bt_all.reshape(slots * r, -1))
    else:  # [A_k; A_g] per row, gathered on the device
        pick = torch.stack([expert, torch.full_like(expert, slots - 1)], dim=1).view(-1)
        a = a_all.index_select(0, pick).view(batch, 2 * r, -1)
        bt = bt_all.index_select(0, pick).view(batch, 2 * r, -1)
        coef = w.gather(1, pick.view(batch, 2)).repeat_interleave(r, dim=1).view(batch, 1, 2 * r)
        out = torch.baddbmm(bs, torch.bmm(xs, a.transpose(1, 2)) * coef, bt)
    return out.view(base.shape)
