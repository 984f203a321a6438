"""Vision-tower attention as one SDPA call per block, with no host sync inside the blocks.

Why: the stock ``VisionAttention`` (sdpa / eager) reads ``cu_seqlens`` back to the host (``lengths.tolist()``) and
runs one attention call per segment in every one of the 32 blocks. Our tower calls always have segments of one
length (each image is encoded alone, see ``vision_reuse``; a video's frames share one grid), so the segments can be
stacked as a batch ``[segments, heads, seg_len, head_dim]`` and attended in one call, which on CUDA lets SDPA pick
its flash / memory-efficient / cuDNN kernel.

The segment layout is read from ``grid_thw`` once per tower call (a forward pre-hook on the tower), never inside a
block; a block checks it against ``hidden_states.shape`` (a host value). Unequal segments, a layout that does not
match, or an attention implementation other than ``sdpa`` run the stock forward unchanged. Installed on the module
instances; transformers itself is never edited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

BATCHED = "sdpa, one call per block (segments batched)"
SDPA_BACKENDS = ("flash", "mem_efficient", "cudnn", "math")  # torch.backends.cuda.<name>_sdp_enabled()


@dataclass
class VisionAttentionState:
    """The current tower call's segment layout and how many block calls ran each way (for ``run.json``)."""

    implementation: str
    enabled: bool = True  # False: every block runs the stock forward (the GPU benchmark's "stock" stage)
    layout: tuple[int, int] | None = None  # (segments, tokens per segment) of the running tower call
    calls: dict[str, int] = field(default_factory=lambda: {"batched": 0, "stock": 0})
    self_check: dict[str, Any] | None = None  # the install-time comparison with the stock forward
    probe_block: Any = field(default=None, repr=False)  # block 0's attention and its stock forward (run-start check)
    stock_forward: Any = field(default=None, repr=False)

    @property
    def batches(self) -> bool:
        return self.implementation == "sdpa"

    def describe(self) -> str:
        if self.batches and self.enabled:
            return BATCHED
        if self.self_check is not None and not self.self_check["passed"]:
            return "sdpa, one call per segment per block (stock: the batched path failed its self-check)"
        if self.batches:
            return "sdpa, one call per segment per block (stock)"
        if self.implementation.startswith("flash"):
            return f"{self.implementation}, one varlen call per block (stock)"
        return f"{self.implementation}, one call per segment per block (stock)"


def segment_layout(grid: list[list[int]]) -> tuple[int, int] | None:
    """``(segments, tokens per segment)`` of a tower call over ``[t, h, w]`` rows (each frame is one segment),
    or None when the segments differ in length."""
    lengths = {h * w for _, h, w in grid}
    if len(lengths) != 1:
        return None
    return sum(t for t, _, _ in grid), lengths.pop()


def batched_attention(attn: torch.nn.Module, hidden_states: torch.Tensor, position_embeddings, segments: int,
                      seg_len: int) -> torch.Tensor:
    """The stock projection + vision rotary, then one SDPA call over the segments stacked as a batch."""
    from transformers.models.qwen2_vl.modeling_qwen2_vl import apply_rotary_pos_emb_vision

    seq = hidden_states.shape[0]
    q, k, v = attn.qkv(hidden_states).reshape(seq, 3, attn.num_heads, -1).permute(1, 0, 2, 3).unbind(0)
    cos, sin = position_embeddings
    q, k = apply_rotary_pos_emb_vision(q, k, cos, sin)
    q, k, v = (t.reshape(segments, seg_len, attn.num_heads, -1).transpose(1, 2) for t in (q, k, v))
    out = torch.nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=0.0, is_causal=False,
                                                           scale=attn.scaling)
    return attn.proj(out.transpose(1, 2).reshape(seq, -1))


def _batched_forward(attn: torch.nn.Module, stock, state: VisionAttentionState):
    def forward(hidden_states, cu_seqlens, position_embeddings=None, max_seqlen=None, **kwargs):
        layout = state.layout
        if (layout is None or not state.enabled or position_embeddings is None or attn.training or kwargs.get("output_attentions")
                or layout[0] * layout[1] != hidden_states.shape[0]):
            state.calls["stock"] += 1
            return stock(hidden_states, cu_seqlens, position_embeddings=position_embeddings, max_seqlen=max_seqlen,
                         **kwargs)
        state.calls["batched"] += 1
        return batched_attention(attn, hidden_states, position_embeddings, *layout)

    return forward


def install_batched_vision_attention(visual: torch.nn.Module) -> VisionAttentionState:
    """Make every block of the Qwen2-VL vision tower ``visual`` attend its equal segments in one SDPA call."""
    state = VisionAttentionState(implementation=str(visual.config._attn_implementation))
    if not state.batches:
        return state

    def before(module, args, kwargs):
        grid = kwargs.get("grid_thw", args[1] if len(args) > 1 else None)
        state.layout = None if grid is None else segment_layout(grid.tolist())  # once per tower call

    def after(module, args, kwargs, output):
        state.layout = None

    visual.register_forward_pre_hook(before, with_kwargs=True)
    visual.register_forward_hook(after, with_kwargs=True, always_call=True)
    stock = visual.blocks[0].attn.forward
    for block in visual.blocks:
        block.attn.forward = _batched_forward(block.attn, block.attn.forward, state)
    state.probe_block, state.stock_forward = visual.blocks[0].attn, stock
    state.self_check = self_check(visual.blocks[0].attn, stock)
    state.enabled = state.self_check["passed"]
    return state


# Largest difference from the stock forward, relative to its largest output, that the self-check accepts: a
# reordering of the same sums (another SDPA kernel for a batch of segments) stays far below it, a layout error
# (another transformers' projection or rotary) is of order one.
SELF_CHECK_TOLERANCE = {torch.float32: 1e-4, torch.float64: 1e-8}
SELF_CHECK_TOLERANCE_LOW = 2e-2  # bf16 / fp16


@torch.no_grad()
def attention_difference(attn: torch.nn.Module, stock, segments: int, seg_len: int) -> tuple[float, float]:
    """``(max |batched - stock|, max |stock|)`` of one block on seeded random input of ``segments`` equal segments
    (hidden states and rotary angles drawn on the CPU, then moved: the same input on every device)."""
    weight = attn.qkv.weight
    gen = torch.Generator().manual_seed(0)
    seq, head_dim = segments * seg_len, weight.shape[1] // attn.num_heads
    hidden = torch.randn(seq, weight.shape[1], generator=gen).to(weight.device, weight.dtype)
    angles = torch.randn(seq, head_dim, generator=gen).to(weight.device)
    rotary = (angles.cos(), angles.sin())
    cu = torch.arange(0, seq + 1, seg_len, dtype=torch.int32, device=weight.device)
    expected = stock(hidden, cu, position_embeddings=rotary)
    got = batched_attention(attn, hidden, rotary, segments, seg_len)
    return float((got.float() - expected.float()).abs().max()), float(expected.float().abs().max())


def self_check(attn: torch.nn.Module, stock, segments: int = 2, seg_len: int = 8) -> dict[str, Any]:
    """Install-time guard at a toy shape: a transformers version whose attention the batched path does not match
    keeps the stock path (recorded) instead of computing something else. (Runs also check it at a realistic
    segment length: ``models/fast_path_checks.py``.)"""
    try:
        diff, scale = attention_difference(attn, stock, segments, seg_len)
    except Exception as err:  # an incompatible module layout: keep the stock path
        return {"passed": False, "error": f"{type(err).__name__}: {err}"}
    relative = diff / (scale or 1.0)
    passed = bool(relative <= SELF_CHECK_TOLERANCE.get(attn.qkv.weight.dtype, SELF_CHECK_TOLERANCE_LOW))
    return {"passed": passed, "max_relative_diff": relative}


def sdpa_backends() -> dict[str, bool] | None:
    """Which SDPA kernels torch may choose on CUDA (None without CUDA)."""
    if not torch.cuda.is_available():
        return None
    return {name: bool(getattr(torch.backends.cuda, f"{name}_sdp_enabled")()) for name in SDPA_BACKENDS}


def attention_report(state: VisionAttentionState, llm_implementation: str, choice_padding: str,
                     device: torch.device) -> dict[str, Any]:
    """What ``run.json`` records as ``attention``: the paths configured and the block calls that ran each way."""
    if llm_implementation == "sdpa":
        choice = ("sdpa is_causal, no 4D mask (right padding, last real token gathered)" if choice_padding == "right"
                  else "sdpa with a 4D padding mask when the batch is padded (left padding)")
        generate = "sdpa with a 4D padding mask when the batch is padded (left padding); is_causal when not"
    else:
        choice = generate = f"{llm_implementation} ({choice_padding} padding in choice mode)"
    info: dict[str, Any] = {
        "vision_attention": state.describe(),
        "vision_attention_calls": dict(state.calls),
        "vision_attention_self_check": state.self_check,
        "llm_choice_prefill": choice,
        "llm_generate_prefill": generate,
        "device": str(device),
    }
    backends = sdpa_backends() if device.type == "cuda" else None
    if backends is not None:
        info["sdpa_backends"] = backends
    return info
