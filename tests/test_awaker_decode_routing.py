"""Decode routing is decided once per ``generate`` call (both modes) and equals today's per-step computation."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from awaker_eval.models.awaker import routing
from awaker_eval.models.base import GenerationSettings


@pytest.fixture(scope="module")
def awaker(tiny_cache_dir):
    from awaker_eval.config.schema import ModelConfig
    from awaker_eval.models.factory import build_model

    return build_model(ModelConfig(name="awaker_tiny", kind="awaker2_5_vl", checkpoint="tiny", dtype="float32",
                                   device="cpu", cache_dir=str(tiny_cache_dir)))


def _conversations():
    g = torch.Generator().manual_seed(3)
    imgs = [Image.fromarray((torch.rand(h, w, 3, generator=g) * 255).byte().numpy()) for h, w in [(60, 90), (80, 40)]]
    text = [{"type": "text", "text": "Describe the picture in a few words."}]
    return [[{"role": "user", "content": [{"type": "image", "image": im, "max_pixels": 64 * 28 * 28}, *text]}]
            for im in imgs] + [[{"role": "user", "content": [{"type": "text", "text": "Count to five."}]}]]


@pytest.mark.parametrize("mode", ["fork", "consistent"])
def test_decode_decisions_computed_once_equal_per_step_decisions(awaker, mode, monkeypatch):
    calls = {"router_decision": 0}
    real_decision = routing.router_decision

    def counted(*args):
        calls["router_decision"] += 1
        return real_decision(*args)

    monkeypatch.setattr(routing, "router_decision", counted)
    state = awaker.routing
    state.mode = mode
    try:
        outs = awaker.generate(awaker.prepare(_conversations()), GenerationSettings(max_new_tokens=6))
    finally:
        state.mode = "fork"
    decode = [c for c in state.calls if c.phase == "decode"]
    n = state.n_routers
    assert len(decode) == 5 and calls["router_decision"] == 2 * n  # prefill + first decode step, never per step
    assert all(c.decisions is decode[0].decisions for c in decode)  # the same device tensors for every step
    for call in state.calls:  # what today's per-step computation would give, router by router
        for index, owner in state.owners.items():
            fresh = real_decision(call.route, owner)
            got = call.decisions[index]
            assert torch.equal(fresh.expert, got.expert) and torch.equal(fresh.p, got.p)
            assert torch.equal(fresh.probs, got.probs) and torch.equal(fresh.logits, got.logits)
            assert [(e, None if r is None else r.tolist()) for e, r in fresh.groups] == [
                (e, None if r is None else r.tolist()) for e, r in got.groups]
    assert all(o.routing["mode"] == mode and o.routing["prefill"]["expert"] for o in outs)
    if mode == "consistent":
        assert outs[0].routing["decode"]["expert"] == outs[0].routing["prefill"]["expert"]
