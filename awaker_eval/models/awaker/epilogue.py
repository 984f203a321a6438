"""The adapter epilogue of every adapted Linear: base output + LoRA / mixture deltas, rounded once (spec §2.1, §2.4).

``out = round( fp32(base) + (fp32(E)·s·p)·p + fp32(G)·s·(1 − p) )`` for a routed module (E: the row's expert
output, G: the global expert, p: fp16 routing weight, (1 − p) formed in fp16), and
``out = round( fp32(base) + fp32(D)·s )`` for plain LoRA. The LoRA scaling ``s`` is folded in here, on the fp32
value, which is exact for a power of two (2.0 in the release), so the branches need no separate ``* scaling`` pass.

Why fused: the unfused path (``adapters.moe_delta``) materialises several fp32 tensors of the layer's output size
and an fp32 scatter buffer; on CUDA (with triton) one kernel reads base, E, G and p once and writes the output
dtype once. Elsewhere ``reference_epilogue`` (the same operations, in the same order, in torch) runs; both equal
the unfused path bit for bit (tests on CPU; ``scripts/gpu_perf_awaker7b.py`` checks the kernel on the GPU).
"""

from __future__ import annotations

import math

import torch


def exact_scale(scaling: float) -> bool:
    """True when multiplying by ``scaling`` is exact in binary floating point (a power of two)."""
    return scaling > 0 and math.frexp(scaling)[0] == 0.5


def _row_weight(p: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return p.view(-1, *([1] * (like.dim() - 1)))


def reference_epilogue(
    base: torch.Tensor,
    glob: torch.Tensor,
    scaling: float,
    out_dtype: torch.dtype,
    expert: torch.Tensor | None = None,
    p: torch.Tensor | None = None,
) -> torch.Tensor:
    """The epilogue in torch. ``glob`` is the unscaled global-expert (or plain LoRA) output, ``expert`` the unscaled
    output of each row's expert (None for plain LoRA), ``p`` ``[B]`` fp16."""
    out = base.float()
    if expert is None:
        return (out + glob.float() * scaling).to(out_dtype)
    w = _row_weight(p, base)
    delta = ((expert.float() * scaling) * w) * w + (glob.float() * scaling) * (1 - w)
    return (out + delta).to(out_dtype)


def _triton_available() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


_USE_TRITON: dict[str, bool] = {}


def fused_epilogue(
    base: torch.Tensor,
    glob: torch.Tensor,
    scaling: float,
    out_dtype: torch.dtype,
    expert: torch.Tensor | None = None,
    p: torch.Tensor | None = None,
) -> torch.Tensor:
    """The triton kernel on CUDA (when triton is installed and ``scaling`` is exact), else ``reference_epilogue``."""
    if base.is_cuda and exact_scale(scaling):
        if "ok" not in _USE_TRITON:
            _USE_TRITON["ok"] = _triton_available()
        if _USE_TRITON["ok"]:
            from awaker_eval.models.awaker.epilogue_triton import triton_epilogue

            return triton_epilogue(base, glob, scaling, out_dtype, expert, p)
    return reference_epilogue(base, glob, scaling, out_dtype, expert, p)


def kernel_name(device: torch.device, scaling: float) -> str:
    """Which epilogue runs on ``device`` (recorded by the benchmark script)."""
    if device.type == "cuda" and exact_scale(scaling) and _triton_available():
        return "triton"
    return "torch-reference"
