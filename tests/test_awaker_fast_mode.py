"""``adapter_dtype_mode=fast``: the routed mixture as batched matmuls on stacked expert weights, and its agreement
with ``parity`` (identical routing, letters and greedy ids on the tiny Awaker; logit differences measured)."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from awaker_eval.models.awaker import adapters
from awaker_eval.models.awaker.adapters import MoeLoraLinear, fast_mixture, mixture_weights
from awaker_eval.models.awaker.fast_agreement import agreement, compare_modes, run_mode
from awaker_eval.models.awaker.routing import RoutingState
from awaker_eval.models.awaker.settings import AdapterSettings

H, OUT = 48, 40


def _routed(dtype, seed=0):
    torch.manual_seed(seed)
    owner = MoeLoraLinear(H, OUT, True, AdapterSettings(r=4, lora_alpha=8), router_hidden=H, dtype=dtype)
    with torch.no_grad():
        for prm in owner.parameters():
            prm.copy_(torch.randn_like(prm) * 0.5)
        owner.w_gate.weight.mul_(6)
    state = RoutingState(n_routers=1, embed_tokens=lambda ids: None, host_groups=False)
    owner.router_index = 0
    owner.attach(state, owner)
    return owner, state


def test_mixture_weights_put_p_squared_at_the_expert_and_one_minus_p_at_the_global_slot():
    p = torch.tensor([0.5, 0.75], dtype=torch.float16)
    w = mixture_weights(torch.tensor([2, 0]), p, 5, 2.0, torch.float32)
    assert w.tolist() == [[0.0, 0.0, 0.5, 0.0, 1.0], [1.125, 0.0, 0.0, 0.0, 0.5]]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("tokens", [3, 300])  # decode-like rows (dense over experts) and prefill rows (gathered)
@torch.no_grad()
def test_fast_module_equals_the_mixture_formula_on_views_of_the_loaded_weights(dtype, tokens, monkeypatch):
    owner, state = _routed(dtype, seed=tokens)
    x = (torch.randn(7, tokens, H) * 3).to(dtype)
    before = {k: v.clone() for k, v in owner.state_dict().items()}
    with state.session(torch.zeros(7, 1, dtype=torch.long), torch.tensor([[0, 1]] * 7)):
        state.on_decoder_call(torch.randn(7, 1, H).to(dtype), 0)
        d = state.decision(owner)
        assert d.groups == [] and len({*d.expert.tolist()}) > 1  # device decision only, a mixed-expert batch
        parity = owner(x).double()
        owner.stack_experts()
        fast = owner(x)
        monkeypatch.setattr(adapters, "DENSE_MAX_TOKENS", 10**6 if tokens > 256 else 0)  # the other branch
        other = owner(x)
        unfused = owner.unfused(x)  # the parity reference still works on a stacked module
    a_all, bt_all = owner.stacked
    assert a_all.shape == (5, 4, H) and bt_all.shape == (5, 4, OUT)
    for k, name in enumerate(["0", "1", "2", "3", "g"]):  # the checkpoint names are views of the stacks
        assert owner.lora_moe_A[name].weight.data_ptr() == a_all[k].data_ptr()
        assert owner.lora_moe_B[name].weight.untyped_storage().data_ptr() == bt_all.untyped_storage().data_ptr()
    assert {k: torch.equal(before[k], v) for k, v in owner.state_dict().items()} == {k: True for k in before}
    # the formula in float64 from the same weights
    xd, w = x.double(), d.p.double().view(-1, 1, 1)
    lora = {n: (owner.lora_moe_B[n].weight.double() @ owner.lora_moe_A[n].weight.double()) for n in ["0", "1", "2", "3", "g"]}
    expert = torch.stack([xd[b] @ lora[str(e)].T for b, e in enumerate(d.expert.tolist())])
    exact = owner.base(x).double() + 2.0 * (w * w * expert + (1 - w) * (xd @ lora["g"].T))
    err = max(float((y.double() - exact).abs().max()) for y in (fast, other))
    parity_err = float((parity - exact).abs().max())
    assert fast.dtype == dtype and fast.shape == (7, tokens, OUT)
    if dtype == torch.float32:  # measured 2.1e-5 / 2.8e-5 (parity 1.6e-5 / 2.1e-5) at |y| <= 164
        assert err <= 1e-4 and parity_err <= 1e-4  # parity with a group-less decision keeps its experts
    else:  # measured equal to parity's own error (0.43 / 0.62 at |y| <= 121: one bf16 ulp there is 0.5)
        assert err <= 1.5 * parity_err
    # the parity reference still runs on a stacked module (its B views are transposed: fp32 sums may reorder)
    assert float((unfused.double() - parity).abs().max()) <= (1e-4 if dtype == torch.float32 else 0)


def test_fast_forward_never_synchronises_with_the_host(monkeypatch):
    owner, state = _routed(torch.float32)
    owner.stack_experts()
    x = torch.randn(3, 5, H)

    def forbidden(*args, **kwargs):
        raise AssertionError("host sync in the fast forward")

    with state.session(torch.zeros(3, 1, dtype=torch.long), torch.tensor([[0, 1]] * 3)):
        state.on_decoder_call(torch.randn(3, 1, H), 0)
        monkeypatch.setattr(torch.Tensor, "tolist", forbidden)
        monkeypatch.setattr(torch.Tensor, "item", forbidden)
        monkeypatch.setattr(adapters, "expert_groups", forbidden)
        assert owner(x).shape == (3, 5, OUT)
        assert fast_mixture(x, owner.base(x), owner.stacked, torch.tensor([0, 3, 1]),
                            torch.tensor([0.5, 0.5, 0.5], dtype=torch.float16), 2.0).shape == (3, 5, OUT)


def _batches():
    g = torch.Generator().manual_seed(5)
    convs = []
    for i, (h, w) in enumerate([(60, 90), (80, 40), (120, 70), (50, 50)]):
        im = Image.fromarray((torch.rand(h, w, 3, generator=g) * 255).byte().numpy())
        text = f"Question {i}: which option fits the picture best? A. red B. green C. blue D. grey"
        convs.append([{"role": "user", "content": [{"type": "image", "image": im, "max_pixels": 64 * 28 * 28},
                                                   {"type": "text", "text": text}]}])
    convs.append([{"role": "user", "content": [{"type": "text", "text": "Count to five. A. yes B. no"}]}])
    return [(convs[:3], [list("ABCD")] * 3), (convs[3:], [list("ABCD"), list("AB")])]


def _builder(cache, dtype):
    from awaker_eval.config.schema import ModelConfig
    from awaker_eval.models.factory import build_model

    return lambda mode: build_model(ModelConfig(name="awaker_tiny", kind="awaker2_5_vl", checkpoint="tiny",
                                                dtype=dtype, device="cpu", cache_dir=str(cache),
                                                adapter_dtype_mode=mode))


# Measured on the tiny Awaker (logits up to |68|): fp32 3.8e-5 (letters 2.3e-5); bf16 0.5 = 1 bf16 ulp at 64
# (letters 0.41), against 0.91 between bf16 and fp32 parity themselves. Bounds: 4x / 1.5x margin.
@pytest.mark.parametrize("dtype, logit_bound", [("float32", 2e-4), ("bfloat16", 0.75)])
def test_fast_mode_agrees_with_parity_on_the_tiny_awaker(tiny_cache_dir, dtype, logit_bound, monkeypatch):
    calls = {"fast": 0}
    real = adapters.fast_mixture

    def counted(*args):
        calls["fast"] += 1
        return real(*args)

    monkeypatch.setattr(adapters, "fast_mixture", counted)
    result = compare_modes(_builder(tiny_cache_dir, dtype), _batches(), max_new_tokens=6)
    assert calls["fast"] > 0  # the fast build really ran the batched mixture
    assert {k: result[k] for k in ("rows", "same_letters", "same_routing", "same_greedy_ids")} == {
        "rows": 5, "same_letters": 5, "same_routing": 5, "same_greedy_ids": 5}
    assert 0 < result["max_abs_logit_diff"] <= logit_bound
    assert result["max_letter_logprob_diff"] <= logit_bound


def test_gathered_and_dense_mixtures_give_the_same_answers_in_the_model(tiny_cache_dir, monkeypatch):
    fast = _builder(tiny_cache_dir, "float32")("fast")
    dense = run_mode(fast, _batches(), max_new_tokens=6)  # tiny prompts: every call takes the dense branch
    monkeypatch.setattr(adapters, "DENSE_MAX_TOKENS", 0)
    gathered = run_mode(fast, _batches(), max_new_tokens=6)
    result = agreement(dense, gathered)
    assert (result["same_letters"], result["same_routing"], result["same_greedy_ids"]) == (5, 5, 5)
    assert result["max_abs_logit_diff"] <= 2e-4
    assert fast.fingerprint()["adapter_dtype_mode"] == "fast" and not fast.routing.host_groups


def test_agreement_counts_differences_and_compares_logits_only_on_shared_steps():
    from awaker_eval.models.awaker.fast_agreement import ModeRun

    a = ModeRun(letters=["A", "B"], letter_logprobs=[{"A": -0.1}, {"A": -2.0}], routing=[1, 2],
                greedy_ids=[[5, 6, 7], [1, 2]], logits=[torch.zeros(3, 4), torch.zeros(2, 4)])
    b = ModeRun(letters=["A", "C"], letter_logprobs=[{"A": -0.3}, {"A": -2.0}], routing=[1, 3],
                greedy_ids=[[5, 8, 9], [1, 2]], logits=[torch.tensor([[0.0] * 4, [0.25] * 4, [9.0] * 4]),
                                                        torch.zeros(2, 4)])
    result = agreement(a, b)
    assert result == {"rows": 2, "same_letters": 1, "same_routing": 1, "same_greedy_ids": 1,
                      "max_abs_logit_diff": 0.25, "max_letter_logprob_diff": pytest.approx(0.2)}
    with pytest.raises(ValueError, match="2 and 1 rows"):
        agreement(a, ModeRun(letters=["A"]))


def test_fast_mixture_weights_are_formed_once_per_router_decision(tiny_cache_dir, monkeypatch):
    """One choice call: the routed Linears (o_proj; gate/up/down share gate's router) ask for their mixture
    weights, but each router's decision forms them once."""
    calls = []
    real = adapters.mixture_weights
    monkeypatch.setattr(adapters, "mixture_weights", lambda *args: calls.append(1) or real(*args))
    model = _builder(tiny_cache_dir, "float32")("fast")
    conversations, letters = _batches()[0]
    model.score_choices(model.prepare(conversations), letters)
    layers = len(model.hf_model.model.language_model.layers)
    routed = sum(isinstance(m, MoeLoraLinear) for m in model.hf_model.modules())
    assert routed == 4 * layers and len(calls) == 2 * layers  # 2 routers per layer, 4 routed Linears
