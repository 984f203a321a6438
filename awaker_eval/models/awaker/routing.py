"""Per-sample routing (spec §2.2-2.3, §5): one pooled vector per decoder call, router decisions, records.

A forward pre-hook on the text decoder sees the layer-0 input embeddings. At prefill (empty cache) the route vector
is their mean over each row's ``prompt_pos`` span (image features included). At decode steps it is, per mode:
``fork`` — the span mean of the raw token embeddings of the prompt (the released inference path);
``consistent`` — the prefill vector again. Every router of that call reads the same vector.

Decisions are computed once per call for all routers (one host sync for the expert groups of the whole call, none
per router) and, since the decode route is constant within a ``generate`` call in both modes, once for all decode
steps: later steps reuse the first decode step's decisions (the same device tensors). ``host_groups`` False
(``adapter_dtype_mode=fast``, whose modules use the device expert indices directly) skips even that one sync.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch

from awaker_eval.models.awaker.adapters import expert_groups, groups_from_ids
from awaker_eval.models.hf_compat import kwargs_cache
from awaker_eval.models.options import ROUTING_MODES


class RoutingError(RuntimeError):
    """Routing cannot be computed (no session, empty span, batch mismatch)."""


@dataclass
class Decision:
    """One router's choice for every sample of a call."""

    expert: torch.Tensor  # [B] int64
    p: torch.Tensor  # [B] fp16, not renormalised
    probs: torch.Tensor  # [B, E] fp16 softmax
    logits: torch.Tensor  # [B, E] model dtype
    groups: list = field(repr=False, default_factory=list)
    mixture: dict = field(repr=False, default_factory=dict)  # fast mode: mixture weights per (slots, scaling, dtype)


def span_mean(embeds: torch.Tensor, spans: torch.Tensor) -> torch.Tensor:
    """``[B, H]`` mean of ``embeds[b, start:end]`` per row, in the embeddings' dtype (end exclusive)."""
    rows = []
    for b, (start, end) in enumerate(spans.tolist()):
        if not 0 <= start < end <= embeds.shape[1]:
            raise RoutingError(f"row {b}: routing span [{start}, {end}) is empty or outside length {embeds.shape[1]}")
        rows.append(embeds[b, start:end].mean(dim=0))
    return torch.stack(rows)


def router_decision(route: torch.Tensor, owner, with_groups: bool = True) -> Decision:
    """RMSNorm (fp32, cast back, × weight) → ``w_gate`` → fp16 softmax(z/τ) → top-1 taken from a top-2 query.
    ``with_groups`` False leaves ``groups`` empty (``decide_all`` fills them with one sync for all routers)."""
    normed = owner.ln(route.to(owner.w_gate.weight.dtype))
    logits = owner.w_gate(normed)
    probs = torch.softmax(logits / owner.gates_tmp, dim=-1, dtype=torch.float16)
    values, index = probs.topk(min(2, probs.shape[-1]), dim=-1)
    expert = index[:, 0]
    return Decision(expert=expert, p=values[:, 0], probs=probs, logits=logits,
                    groups=expert_groups(expert) if with_groups else [])


def decide_all(route: torch.Tensor, owners: dict, with_groups: bool = True) -> dict[int, Decision]:
    """Every router's decision for one call; the experts of all routers go to the host in one transfer
    (none when ``with_groups`` is False)."""
    decisions = {i: router_decision(route, owner, False) for i, owner in sorted(owners.items())}
    if decisions and with_groups:
        ids = torch.stack([d.expert for d in decisions.values()]).tolist()  # the call's one host sync
        for d, row in zip(decisions.values(), ids):
            d.groups = groups_from_ids(row, d.expert.device)
    return decisions


def _expand(t: torch.Tensor, batch: int) -> torch.Tensor:
    """Repeat each row for beam / num_return_sequences expansion."""
    if t.shape[0] == batch:
        return t
    if batch % t.shape[0]:
        raise RoutingError(f"batch of {batch} rows cannot be an expansion of {t.shape[0]} prompts")
    return t.repeat_interleave(batch // t.shape[0], dim=0)


@dataclass
class CallRecord:
    """Routing of one decoder call (prefill / full forward, or one decode step)."""

    phase: str  # "prefill" (cache empty: full sequence) | "decode"
    q_len: int
    route: torch.Tensor  # [B, H]
    decisions: dict = field(default_factory=dict)  # router index -> Decision

    def stacked(self, n_routers: int) -> dict[str, torch.Tensor]:
        """``expert`` / ``p`` ``[B, n_routers]``, ``probs`` / ``logits`` ``[B, n_routers, E]``."""
        missing = [i for i in range(n_routers) if i not in self.decisions]
        if missing:
            raise RoutingError(f"routers {missing[:5]} did not run in this {self.phase} call")
        ds = [self.decisions[i] for i in range(n_routers)]
        return {
            "expert": torch.stack([d.expert for d in ds], dim=1),
            "p": torch.stack([d.p for d in ds], dim=1),
            "probs": torch.stack([d.probs for d in ds], dim=1),
            "logits": torch.stack([d.logits for d in ds], dim=1),
        }


class RoutingState:
    """Shared by all routed modules of one model. Use ``session(...)`` around every forward / generate call."""

    def __init__(self, n_routers: int, embed_tokens: Callable[[torch.Tensor], torch.Tensor], mode: str = "fork",
                 host_groups: bool = True):
        self.n_routers = n_routers
        self.host_groups = host_groups  # False: decisions carry device tensors only (no expert groups on the host)
        self._embed = embed_tokens
        self.mode = self._check_mode(mode)
        self.calls: list[CallRecord] = []
        self._prompt_ids: torch.Tensor | None = None
        self._spans: torch.Tensor | None = None
        self._prefill_route: torch.Tensor | None = None
        self._raw_route: torch.Tensor | None = None
        self._current: CallRecord | None = None
        self._decode_decisions: dict | None = None
        self._active_mode = self.mode
        self.owners: dict = {}  # router index -> owning module (install_routing); empty: decide lazily

    def register_owner(self, owner) -> None:
        """A router that ``on_decoder_call`` decides eagerly, together with all others."""
        self.owners[owner.router_index] = owner

    @staticmethod
    def _check_mode(mode: str) -> str:
        if mode not in ROUTING_MODES:
            raise ValueError(f"routing mode {mode!r}: expected one of {ROUTING_MODES}")
        return mode

    @contextmanager
    def session(self, input_ids: torch.Tensor, prompt_pos: torch.Tensor, mode: str | None = None) -> Iterator["RoutingState"]:
        """Routing for one generate / forward call over these (left-padded) prompts and their ``[B, 2]`` spans."""
        if self._spans is not None:
            raise RoutingError("routing sessions cannot be nested")
        if prompt_pos.shape != (input_ids.shape[0], 2):
            raise RoutingError(f"prompt_pos shape {tuple(prompt_pos.shape)} != ({input_ids.shape[0]}, 2)")
        self._prompt_ids, self._spans = input_ids, prompt_pos.detach().cpu()
        self._active_mode = self._check_mode(mode or self.mode)
        self._prefill_route = self._raw_route = self._current = self._decode_decisions = None
        self.calls = []
        try:
            yield self
        finally:
            self._prompt_ids = self._spans = self._prefill_route = self._raw_route = self._current = None
            self._decode_decisions = None

    @property
    def active_mode(self) -> str:
        return self._active_mode

    def on_decoder_call(self, inputs_embeds: torch.Tensor, past_length: int) -> None:
        """Set the route vector of this decoder call (called by the pre-hook)."""
        if self._spans is None:
            raise RoutingError("the Awaker model was called outside a routing session (use state.session(...))")
        batch, q_len = inputs_embeds.shape[:2]
        if past_length == 0:
            route = span_mean(inputs_embeds, _expand(self._spans, batch))
            self._prefill_route, phase = route, "prefill"
        else:
            phase = "decode"
            if self._active_mode == "consistent":
                if self._prefill_route is None:
                    raise RoutingError("consistent routing needs a prefill call in the same session")
                route = _expand(self._prefill_route, batch)
            else:
                if self._raw_route is None:
                    raw = self._embed(self._prompt_ids.to(inputs_embeds.device))
                    self._raw_route = span_mean(raw, self._spans)
                route = _expand(self._raw_route, batch)
        self._current = CallRecord(phase=phase, q_len=q_len, route=route)
        if phase == "decode" and self._decode_decisions is not None and self._decode_decisions[0] == batch:
            self._current.decisions = self._decode_decisions[1]  # constant route: the first step's decisions
        elif self.owners:
            self._current.decisions = decide_all(route, self.owners, self.host_groups)
            if phase == "decode":
                self._decode_decisions = (batch, self._current.decisions)
        self.calls.append(self._current)

    def decision(self, owner) -> Decision:
        """The owner's routing decision for the current call, computed once and shared with up/down."""
        if self._current is None:
            raise RoutingError("no routing vector: the decoder pre-hook did not run for this call")
        found = self._current.decisions.get(owner.router_index)
        if found is None:
            found = router_decision(self._current.route, owner, self.host_groups)
            self._current.decisions[owner.router_index] = found
        return found


def install_hook(language_model: torch.nn.Module, state: RoutingState):
    """Pre-hook on the text decoder: it sees the layer-0 input embeddings and the cache of each call."""

    def hook(module, args, kwargs):
        embeds = kwargs.get("inputs_embeds")
        if embeds is None:
            ids = kwargs.get("input_ids", args[0] if args else None)
            embeds = module.embed_tokens(ids)
        cache = kwargs_cache(kwargs)
        past = cache.get_seq_length() if cache is not None else 0
        state.on_decoder_call(embeds, int(past))

    return language_model.register_forward_pre_hook(hook, with_kwargs=True)
