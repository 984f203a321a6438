"""Vision-tower attention: one SDPA call per block over equal segments, bit-identical to the stock per-segment path
(fp32 and bf16, one image, a multi-frame video, two equal images), no host read inside the blocks, the stock path
for unequal segments and non-sdpa implementations, the same on the tiny Awaker, and what run.json records."""

from __future__ import annotations

import json

import pytest
import torch

from awaker_eval.config.schema import ModelConfig
from awaker_eval.models import vision_attention
from awaker_eval.models.factory import build_model
from awaker_eval.models.vision_attention import BATCHED, segment_layout
from tiny_models import tiny

HOST_READS = ("tolist", "item", "cpu", "numpy", "__bool__", "__int__", "__float__", "__index__")


@pytest.fixture(scope="module")
def models(tiny_cache_dir):
    """The tiny Qwen2-VL and the tiny Awaker (same vision tower code) in fp32 and bf16, on the CPU."""
    return {(w, d): tiny(w, d, str(tiny_cache_dir)) for w in ("tiny", "awaker") for d in ("float32", "bfloat16")}


def _pixels(grid: list[list[int]], dtype: torch.dtype, seed: int = 0) -> torch.Tensor:
    patches = sum(t * h * w for t, h, w in grid)
    return torch.randn(patches, 3 * 2 * 14 * 14, generator=torch.Generator().manual_seed(seed)).to(dtype)


def _tower(model, grid, stock: bool, monkeypatch) -> torch.Tensor:
    visual = model.hf_model.model.visual
    with monkeypatch.context() as m:
        if stock:  # no layout: every block takes the stock forward (one call per segment, lengths.tolist())
            m.setattr(vision_attention, "segment_layout", lambda grid: None)
        with torch.inference_mode():
            return visual(_pixels(grid, model.dtype), grid_thw=torch.tensor(grid)).pooler_output


GRIDS = {"one image": [[1, 4, 6]], "video of 3 frames": [[3, 4, 4]], "two equal images": [[1, 4, 6], [1, 6, 4]]}


@pytest.mark.parametrize("which", ["tiny", "awaker"])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("case", list(GRIDS))
def test_batched_equals_stock_bit_for_bit(models, which, dtype, case, monkeypatch):
    model = models[which, dtype]
    state = model.vision_attention
    depth = len(model.hf_model.model.visual.blocks)
    before = dict(state.calls)
    batched = _tower(model, GRIDS[case], stock=False, monkeypatch=monkeypatch)
    assert state.calls["batched"] - before["batched"] == depth and state.calls["stock"] == before["stock"]
    stock = _tower(model, GRIDS[case], stock=True, monkeypatch=monkeypatch)
    assert state.calls["stock"] - before["stock"] == depth
    assert batched.dtype == model.dtype and torch.equal(batched, stock)
    assert state.layout is None  # cleared after the tower call


def test_unequal_segments_take_the_stock_forward(models, monkeypatch):
    model = models["tiny", "float32"]
    state, depth = model.vision_attention, len(model.hf_model.model.visual.blocks)
    before = dict(state.calls)
    _tower(model, [[1, 4, 6], [1, 4, 4]], stock=False, monkeypatch=monkeypatch)
    assert state.calls == {"batched": before["batched"], "stock": before["stock"] + depth}
    assert segment_layout([[1, 4, 6], [1, 4, 4]]) is None
    assert segment_layout([[2, 4, 4], [1, 2, 8]]) == (3, 16)


@pytest.mark.parametrize("stock,expected_reads", [(False, 0), (True, 3)])
def test_no_host_read_inside_the_blocks(models, monkeypatch, stock, expected_reads):
    """Counts every host read of a tensor while a VisionAttention forward runs; the stock path reads the segment
    lengths 3 times per block (``lengths.tolist()`` for q, k and v), so the counter is shown to see the sync it must not find."""
    model = models["awaker", "float32"]
    visual = model.hf_model.model.visual
    inside, reads = [False], []
    for name in HOST_READS:
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _original=original, _name=name, **kwargs):
            if inside[0]:
                reads.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    handles = []
    for block in visual.blocks:
        handles.append(block.attn.register_forward_pre_hook(lambda *a: inside.__setitem__(0, True)))
        handles.append(block.attn.register_forward_hook(lambda *a: inside.__setitem__(0, False)))
    try:
        _tower(model, GRIDS["video of 3 frames"], stock=stock, monkeypatch=monkeypatch)
    finally:
        for h in handles:
            h.remove()
    assert reads == ["tolist"] * (expected_reads * len(visual.blocks))


def test_switched_off_runs_the_stock_forward(models, monkeypatch):
    model = models["tiny", "float32"]
    state, depth = model.vision_attention, len(model.hf_model.model.visual.blocks)
    before = dict(state.calls)
    monkeypatch.setattr(state, "enabled", False)
    _tower(model, GRIDS["one image"], stock=False, monkeypatch=monkeypatch)
    assert state.calls == {"batched": before["batched"], "stock": before["stock"] + depth}
    assert state.describe() == "sdpa, one call per segment per block (stock)"


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_self_check_passes_on_this_transformers(models, dtype):
    check = models["tiny", dtype].vision_attention.self_check
    assert check == {"passed": True, "max_relative_diff": 0.0}  # bit-identical here; tolerance is for GPU kernels


def test_a_batched_path_that_disagrees_with_stock_is_switched_off_at_install(tiny_cache_dir, monkeypatch):
    """Another transformers' attention (here: the rotary left out) must not run batched: the stock path is kept."""
    def no_rotary(attn, hidden, rotary, segments, seg_len):
        return original(attn, hidden, (torch.ones_like(rotary[0]), torch.zeros_like(rotary[1])), segments, seg_len)

    original = vision_attention.batched_attention
    monkeypatch.setattr(vision_attention, "batched_attention", no_rotary)
    model = build_model(ModelConfig(name="tiny", kind="tiny", dtype="float32", device="cpu",
                                    cache_dir=str(tiny_cache_dir)))
    state = model.vision_attention
    assert state.self_check["passed"] is False and state.self_check["max_relative_diff"] > 0.01
    assert state.enabled is False
    assert state.describe() == "sdpa, one call per segment per block (stock: the batched path failed its self-check)"
    _tower(model, GRIDS["one image"], stock=False, monkeypatch=monkeypatch)
    assert state.calls == {"batched": 0, "stock": len(model.hf_model.model.visual.blocks)}


def test_eager_vision_keeps_the_stock_path(tiny_cache_dir):
    model = build_model(ModelConfig(name="tiny", kind="tiny", dtype="float32", device="cpu",
                                    attn_implementation="eager", cache_dir=str(tiny_cache_dir)))
    assert model.vision_attention.describe() == "eager, one call per segment per block (stock)"
    assert model.attention_info()["llm_choice_prefill"] == "eager (right padding in choice mode)"


def test_attention_info_is_recorded_in_run_json(tmp_path, tiny_cache_dir):
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from awaker_eval.app import CONF_DIR
    from awaker_eval.config.schema import register_configs
    from awaker_eval.pipeline import evaluate

    register_configs()
    overrides = [f"results_root={tmp_path / 'results'}", f"model.cache_dir={tiny_cache_dir}",
                 f"benchmark.cache_dir={tmp_path / 'data'}", "benchmark.sample_size=3", "runner.mode=choice",
                 "runner.progress=false", "runner.bootstrap_samples=10", "model.device=cpu"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = OmegaConf.to_object(compose("config", overrides=overrides))
    meta = json.loads((evaluate(cfg) / "run.json").read_text())
    attention = meta["engine"]["attention"]
    images = meta["engine"]["vision_images_encoded"]
    assert images >= 1
    assert attention == {
        "vision_attention": BATCHED,
        "vision_attention_calls": {"batched": 2 * images, "stock": 0},  # the tiny tower has 2 blocks
        "vision_attention_self_check": {"passed": True, "max_relative_diff": 0.0},
        "llm_choice_prefill": "sdpa is_causal, no 4D mask (right padding, last real token gathered)",
        "llm_generate_prefill": "sdpa with a 4D padding mask when the batch is padded (left padding); is_causal when not",
        "device": "cpu",
    }
    assert "choice_padding" not in meta["model_fingerprint"]  # it is in the protocol fingerprint (choice mode)
