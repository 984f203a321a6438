"""Triton kernel of the adapter epilogue (imported only on CUDA when triton is installed; see epilogue.py).

One pass over the layer output: reads base, the row's expert output, the global output and the row's p, computes
in fp32 with the operations and order of ``reference_epilogue`` (no fused multiply-add: ``enable_fp_fusion`` off),
writes the output dtype once. (1 − p) is formed in fp32 from the fp16 p and rounded to fp16, which equals the fp16
subtraction (both correctly rounded; 1 − p is exact in fp32).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

_TL = {torch.bfloat16: tl.bfloat16, torch.float16: tl.float16, torch.float32: tl.float32}


@triton.jit
def _epilogue_kernel(base_ptr, glob_ptr, expert_ptr, p_ptr, out_ptr, n, row_elems, scaling,
                     HAS_EXPERT: tl.constexpr, OUT_DTYPE: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    acc = tl.load(base_ptr + offs, mask=mask).to(tl.float32)
    g = tl.load(glob_ptr + offs, mask=mask).to(tl.float32) * scaling
    if HAS_EXPERT:
        row = offs // row_elems
        p16 = tl.load(p_ptr + row, mask=mask)
        w = p16.to(tl.float32)
        one_minus = (1.0 - w).to(tl.float16).to(tl.float32)
        e = tl.load(expert_ptr + offs, mask=mask).to(tl.float32) * scaling
        acc = acc + ((e * w) * w + g * one_minus)
    else:
        acc = acc + g
    tl.store(out_ptr + offs, acc.to(OUT_DTYPE, fp_downcast_rounding="rtne"), mask=mask)


def triton_epilogue(base, glob, scaling, out_dtype, expert=None, p=None):
    """``reference_epilogue`` as one kernel; inputs ``[B, ..., out]`` (made contiguous), ``p`` ``[B]`` fp16."""
    base, glob = base.contiguous(), glob.contiguous()
    out = torch.empty(base.shape, dtype=out_dtype, device=base.device)
    n = base.numel()
    row_elems = n // base.shape[0] if base.dim() > 1 and base.shape[0] else max(n, 1)
    has_expert = expert is not None
    expert = expert.contiguous() if has_expert else base
    p = p.contiguous() if has_expert else base
    block = 1024
    _epilogue_kernel[(triton.cdiv(n, block),)](
        base, glob, expert, p, out, n, row_elems, float(scaling),
        HAS_EXPERT=has_expert, OUT_DTYPE=_TL[out_dtype], BLOCK=block, enable_fp_fusion=False,
    )
    return out
