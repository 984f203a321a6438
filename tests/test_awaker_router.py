"""Router and combination unit tests on hand-made tensors (spec §2.3-2.4, §7.3-7.4)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from awaker_eval.models.awaker.adapters import LoraLinear, MoeLoraLinear
from awaker_eval.models.awaker.routing import RoutingError, RoutingState, _expand, router_decision, span_mean
from awaker_eval.models.awaker.settings import AdapterSettings

H, OUT, R = 8, 6, 2
SETTINGS = AdapterSettings(r=R, lora_alpha=4)  # scaling 2.0


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _fill(module: nn.Module, seed: int, dtype=torch.float32) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    return module.to(dtype)


def _routed(dtype=torch.float32, seed=0):
    """(o-like owner, gate owner, up follower, state) wired to one routing state."""
    owner = _fill(MoeLoraLinear(H, OUT, True, SETTINGS, router_hidden=H), seed, dtype)
    follower = _fill(MoeLoraLinear(H, OUT, False, SETTINGS, router_hidden=None), seed + 1, dtype)
    other = _fill(MoeLoraLinear(H, OUT, False, SETTINGS, router_hidden=H), seed + 2, dtype)
    owner.router_index, other.router_index = 1, 0
    state = RoutingState(n_routers=2, embed_tokens=lambda ids: None)
    owner.attach(state, owner)
    follower.attach(state, owner)
    other.attach(state, other)
    return other, owner, follower, state


def _call(state: RoutingState, route: torch.Tensor):
    """Run one prefill call whose pooled vector is exactly ``route`` (span of length 1)."""
    embeds = route[:, None, :]
    spans = torch.tensor([[0, 1]] * route.shape[0])
    return embeds, spans


def _force(owner: MoeLoraLinear, expert: int, margin: float = 3.0) -> None:
    with torch.no_grad():
        owner.w_gate.weight.zero_()
        owner.w_gate.bias.zero_()
        owner.w_gate.bias[expert] = margin


def test_span_mean_end_is_exclusive_and_dtype_kept():
    x = torch.arange(2 * 5 * 2, dtype=torch.bfloat16).view(2, 5, 2)
    out = span_mean(x, torch.tensor([[1, 3], [0, 5]]))
    assert out.dtype == torch.bfloat16
    assert out.tolist() == [[3.0, 4.0], [14.0, 15.0]]  # rows 1..2 of sample 0, all rows of sample 1
    with pytest.raises(RoutingError, match="row 0.*empty"):
        span_mean(x, torch.tensor([[3, 3], [0, 1]]))


def test_router_rmsnorm_casts_before_weight_then_biased_linear_and_fp16_softmax():
    _, owner, _, _ = _routed(torch.bfloat16)
    v = torch.randn(3, H).to(torch.bfloat16)
    d = router_decision(v, owner)
    vf = v.float()
    normed = (vf * torch.rsqrt(vf.pow(2).mean(-1, keepdim=True) + 1e-6)).to(torch.bfloat16) * owner.ln.weight
    logits = nn.functional.linear(normed, owner.w_gate.weight, owner.w_gate.bias)
    assert torch.equal(d.logits, logits)
    probs = torch.softmax(logits.to(torch.float16), dim=-1)
    assert d.probs.dtype == torch.float16 and torch.equal(d.probs, probs)
    assert torch.equal(d.p, probs.max(-1).values)  # not renormalised
    assert torch.equal(d.expert, probs.argmax(-1))
    assert (d.p < 1).all()


def test_temperature_divides_logits():
    _, owner, _, _ = _routed()
    owner.gates_tmp = 2.0
    v = torch.randn(2, H)
    d = router_decision(v, owner)
    assert torch.equal(d.probs, torch.softmax(d.logits / 2.0, dim=-1, dtype=torch.float16))


def test_exact_tie_takes_the_first_of_a_top2_query():
    _, owner, _, _ = _routed()
    with torch.no_grad():
        owner.w_gate.weight.zero_()
        owner.w_gate.bias.copy_(torch.tensor([0.0, 1.0, 1.0, -1.0]))
    d = router_decision(torch.randn(1, H), owner)
    assert d.probs[0, 1] == d.probs[0, 2]
    assert d.expert.item() == d.probs.topk(2, dim=-1).indices[0, 0].item() == 1
    assert d.p.item() == d.probs[0, 1].item()


def _expected_delta(module, x, e, p):
    E = module.lora_moe_B[str(e)](module.lora_moe_A[str(e)](x)) * 2.0
    G = module.lora_moe_B["g"](module.lora_moe_A["g"](x)) * 2.0
    w = p.view(-1, 1, 1)
    return (E * w) * w + G * (1 - w)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_combination_is_p_squared_expert_plus_one_minus_p_global(dtype):
    _, owner, _, state = _routed(dtype)
    _force(owner, 2)
    route = torch.randn(1, H).to(dtype)
    embeds, spans = _call(state, route)
    x = torch.randn(1, 3, H).to(dtype)
    with state.session(torch.zeros(1, 1, dtype=torch.long), spans):
        state.on_decoder_call(embeds, 0)
        d = state.decision(owner)
        assert d.expert.item() == 2
        y = owner(x)
        base = nn.functional.linear(x, owner.weight, owner.bias)
        assert torch.equal(y, (base.float() + _expected_delta(owner, x, 2, d.p)).to(dtype))  # one rounding
        p = d.p.float()
        with torch.no_grad():  # G := 0 -> p² E_k ; experts := 0 -> (1 - p) G
            owner.lora_moe_B["g"].weight.zero_()
            E = owner.lora_moe_B["2"](owner.lora_moe_A["2"](x)).float() * 2.0
            torch.testing.assert_close(owner(x).float(), (base.float() + p**2 * E).to(dtype).float())
            owner.lora_moe_B["g"].weight.copy_(torch.randn(OUT, R))
            owner.lora_moe_B["2"].weight.zero_()
            G = owner.lora_moe_B["g"](owner.lora_moe_A["g"](x)).float() * 2.0
            torch.testing.assert_close(owner(x).float(), (base.float() + (1 - p) * G).to(dtype).float())


def test_one_minus_p_is_rounded_in_fp16():
    _, owner, _, state = _routed()
    p = torch.tensor([1641 / 4096], dtype=torch.float16)  # odd multiple of 2**-12: 1 - p is not an fp16 value
    assert (1 - p).float() != 1 - p.float()
    from awaker_eval.models.awaker.adapters import moe_delta

    x = torch.randn(1, 2, H)
    with torch.no_grad():
        for e in "0123":
            owner.lora_moe_B[e].weight.zero_()
        delta = moe_delta(x, p, [(0, None)], owner.lora_moe_A, owner.lora_moe_B, ("0", "1", "2", "3"), "g", 2.0)
    G = owner.lora_moe_B["g"](owner.lora_moe_A["g"](x)) * 2.0
    assert torch.equal(delta, G * (1 - p).float())


def test_expert_index_matches_w_gate_row_and_adapter_name():
    _, owner, _, state = _routed()
    x = torch.randn(1, 2, H)
    with torch.no_grad():
        for e in "0123g":
            owner.lora_moe_B[e].weight.zero_()
        owner.lora_moe_B["1"].weight.fill_(1.0)
    base = nn.functional.linear(x, owner.weight, owner.bias)
    for expert, changes in ((1, True), (3, False)):
        _force(owner, expert)
        embeds, spans = _call(state, torch.randn(1, H))
        with state.session(torch.zeros(1, 1, dtype=torch.long), spans):
            state.on_decoder_call(embeds, 0)
            assert state.decision(owner).expert.item() == expert
            assert (not torch.equal(owner(x), base)) == changes


def test_followers_reuse_the_owner_decision_and_o_proj_routes_itself():
    other, owner, follower, state = _routed()
    _force(owner, 3)
    _force(other, 0)
    embeds, spans = _call(state, torch.randn(2, H))
    x = torch.randn(2, 2, H)
    with state.session(torch.zeros(2, 1, dtype=torch.long), spans):
        state.on_decoder_call(embeds, 0)
        y = follower(x)  # runs before its owner: the decision is computed once and shared
        p = state.decision(owner).p
        assert state.decision(owner).expert.tolist() == [3, 3]
        assert state.decision(other).expert.tolist() == [0, 0]
        base = nn.functional.linear(x, follower.weight, follower.bias)
        assert torch.equal(y, (base.float() + _expected_delta(follower, x, 3, p)).to(x.dtype))
        assert len(state.calls) == 1 and set(state.calls[0].decisions) == {0, 1}
    assert "router_owner" not in dict(follower.named_children()) and not hasattr(follower, "w_gate")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_mixed_expert_batch_equals_per_row_bit_exactly(dtype):
    _, owner, follower, state = _routed(dtype, seed=5)
    with torch.no_grad():
        owner.w_gate.bias.zero_()
        owner.w_gate.weight.mul_(4)
    routes = torch.randn(6, H).to(dtype)
    x = torch.randn(6, 4, H).to(dtype)
    embeds, spans = _call(state, routes)
    with state.session(torch.zeros(6, 1, dtype=torch.long), spans):
        state.on_decoder_call(embeds, 0)
        batch_out, experts = follower(x), state.decision(owner).expert
    assert len(set(experts.tolist())) > 1  # really a mixed batch
    for b in range(6):
        e1, s1 = _call(state, routes[b:b + 1])
        with state.session(torch.zeros(1, 1, dtype=torch.long), s1):
            state.on_decoder_call(e1, 0)
            assert torch.equal(follower(x[b:b + 1]), batch_out[b:b + 1])


def test_qkv_lora_runs_in_fp32_with_scaling_two():
    lin = _fill(LoraLinear(H, OUT, True, SETTINGS), 3, torch.bfloat16)
    lin.lora_A.float()
    lin.lora_B.float()
    x = torch.randn(2, 3, H).to(torch.bfloat16)
    base = nn.functional.linear(x, lin.weight, lin.bias).float()
    lora = lin.lora_B["default"](lin.lora_A["default"](x.float())) * 2.0
    y = lin(x)
    assert y.dtype == torch.bfloat16 and torch.equal(y, (base + lora).to(torch.bfloat16))


def test_beam_expansion_repeats_each_row():
    spans = torch.tensor([[1, 3], [2, 5]])
    assert _expand(spans, 4).tolist() == [[1, 3], [1, 3], [2, 5], [2, 5]]
    with pytest.raises(RoutingError):
        _expand(spans, 3)


def test_calls_outside_a_session_fail_clearly():
    _, _, _, state = _routed()
    with pytest.raises(RoutingError, match="outside a routing session"):
        state.on_decoder_call(torch.zeros(1, 2, H), 0)
