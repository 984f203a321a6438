"""The fused adapter epilogue (torch reference of the CUDA kernel) equals the unfused spec path bit for bit."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from awaker_eval.models.awaker.adapters import LoraLinear, MoeLoraLinear, moe_delta
from awaker_eval.models.awaker.epilogue import exact_scale, kernel_name, reference_epilogue
from awaker_eval.models.awaker.routing import RoutingState
from awaker_eval.models.awaker.settings import AdapterSettings

H, OUT = 48, 40


def _moe(dtype, settings, seed=0):
    torch.manual_seed(seed)
    owner = MoeLoraLinear(H, OUT, True, settings, router_hidden=H, dtype=dtype)
    with torch.no_grad():
        for prm in owner.parameters():
            prm.copy_(torch.randn_like(prm) * 0.5)
        owner.w_gate.weight.mul_(6)
    state = RoutingState(n_routers=1, embed_tokens=lambda ids: torch.zeros(*ids.shape, H, dtype=dtype))
    owner.router_index = 0
    owner.attach(state, owner)
    return owner, state


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("alpha", [8, 6])  # scaling 2.0 (folded into the fp32 epilogue) and 1.5 (pre-scaled)
def test_routed_module_equals_unfused_path_bit_for_bit(dtype, alpha):
    settings = AdapterSettings(r=4, lora_alpha=alpha)
    owner, state = _moe(dtype, settings, seed=alpha)
    routes = torch.randn(7, H).to(dtype)
    x = torch.randn(7, 5, H).to(dtype) * 3
    spans = torch.tensor([[0, 1]] * 7)
    with state.session(torch.zeros(7, 1, dtype=torch.long), spans):
        state.on_decoder_call(routes[:, None, :], 0)
        d = state.decision(owner)
        assert len({*d.expert.tolist()}) > 1  # a mixed-expert batch
        fused, unfused = owner(x), owner.unfused(x)
        literal = (owner.base(x).float() + moe_delta(x, d.p, d.groups, owner.lora_moe_A, owner.lora_moe_B,
                                                      owner.expert_names, "g", settings.scaling)).to(dtype)
    assert fused.dtype == dtype and torch.equal(fused, unfused) and torch.equal(fused, literal)
    assert exact_scale(settings.scaling) == (alpha == 8)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_plain_lora_module_equals_released_formula(dtype):
    torch.manual_seed(1)
    m = LoraLinear(H, OUT, True, AdapterSettings(r=4, lora_alpha=8), dtype=dtype)
    with torch.no_grad():
        for prm in m.parameters():
            prm.copy_(torch.randn_like(prm))
    m.lora_A["default"].to(torch.float32), m.lora_B["default"].to(torch.float32)  # parity: fp32 q/k/v LoRA
    x = torch.randn(3, 6, H).to(dtype)
    a, b = m.lora_A["default"], m.lora_B["default"]
    expected = (m.base(x).float() + (b(a(x.to(a.weight.dtype))) * 2.0).float()).to(dtype)
    assert torch.equal(m(x), expected)


def test_reference_epilogue_values_and_one_minus_p_in_fp16():
    base = torch.tensor([[1.0, -2.0]], dtype=torch.bfloat16)
    expert = torch.tensor([[0.5, 0.25]], dtype=torch.bfloat16)
    glob = torch.tensor([[1.0, 1.0]], dtype=torch.bfloat16)
    p = torch.tensor([1641 / 4096], dtype=torch.float16)
    w, omw = p.float().item(), (1 - p).float().item()
    out = reference_epilogue(base, glob, 2.0, torch.float32, expert=expert, p=p)
    expected = [1.0 + 1.0 * w * w + 2.0 * omw, -2.0 + 0.5 * w * w + 2.0 * omw]
    assert out[0].tolist() == pytest.approx(expected, rel=1e-6)
    exact_one_minus = [1.0 + 1.0 * w * w + 2.0 * (1 - w), -2.0 + 0.5 * w * w + 2.0 * (1 - w)]
    assert out[0].tolist() != pytest.approx(exact_one_minus, rel=1e-5)  # (1 - p) really rounded to fp16
    assert kernel_name(torch.device("cpu"), 2.0) == "torch-reference"
    assert not exact_scale(1.5) and exact_scale(0.5) and exact_scale(2.0) and not exact_scale(0.0)


KERNEL_CHECK = """
import torch
from awaker_eval.models.awaker.epilogue import reference_epilogue
from awaker_eval.models.awaker.epilogue_triton import triton_epilogue
torch.manual_seed(0)
for dt in (torch.float16, torch.float32):
    base, e, g = (torch.randn(3, 5, 37) * 3).to(dt), torch.randn(3, 5, 37).to(dt), torch.randn(3, 5, 37).to(dt)
    p = torch.rand(3).mul(0.75).add(0.25).half()
    assert torch.equal(reference_epilogue(base, g, 2.0, dt, expert=e, p=p), triton_epilogue(base, g, 2.0, dt, expert=e, p=p))
    assert torch.equal(reference_epilogue(base, g, 2.0, dt), triton_epilogue(base, g, 2.0, dt))
print("kernel == reference")
"""


def test_triton_kernel_arithmetic_equals_reference_in_the_interpreter():
    """The kernel's operations and order, run by triton's CPU interpreter (fp16 / fp32 outputs: the interpreter
    truncates fp32 -> bf16 instead of rounding, so bf16 is checked on the GPU by scripts/gpu_perf_awaker7b.py)."""
    pytest.importorskip("triton")
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-c", KERNEL_CHECK], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("kernel == reference")


def test_fast_mode_merges_qkv_lora_into_the_base_weight():
    torch.manual_seed(2)
    m = LoraLinear(H, OUT, True, AdapterSettings(r=4, lora_alpha=8))
    with torch.no_grad():
        for prm in m.parameters():
            prm.copy_(torch.randn_like(prm))
    x = torch.randn(2, 3, H)
    unmerged = m(x)
    w0 = m.weight.detach().clone()
    m.merge_into_base()
    a, b = m.lora_A["default"].weight, m.lora_B["default"].weight
    assert m.merged and torch.equal(m.weight, w0 + (b @ a) * 2.0) and torch.equal(m(x), m.base(x))
    torch.testing.assert_close(m(x), unmerged, atol=1e-4, rtol=1e-5)  # same function, other rounding
