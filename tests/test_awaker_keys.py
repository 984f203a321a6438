"""Meta-device build of the real 7B configuration: key set, shapes and parameter count (spec §3.2-3.4, §7.1)."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import torch

from conftest import shared_path

from awaker_eval.models.awaker import keymap
from awaker_eval.models.awaker.build import build_skeleton, load_config
from awaker_eval.models.awaker.settings import AdapterSettings

# Qwen/Qwen2-VL-7B-Instruct config.json (flat layout as on the hub).
QWEN2_VL_7B = {
    "architectures": ["Qwen2VLForConditionalGeneration"], "model_type": "qwen2_vl",
    "hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28, "num_attention_heads": 28,
    "num_key_value_heads": 4, "vocab_size": 152064, "max_position_embeddings": 32768, "max_window_layers": 28,
    "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "hidden_act": "silu", "tie_word_embeddings": False,
    "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]}, "sliding_window": 32768,
    "use_sliding_window": False, "attention_dropout": 0.0, "torch_dtype": "bfloat16",
    "bos_token_id": 151643, "eos_token_id": 151645, "vision_start_token_id": 151652, "vision_end_token_id": 151653,
    "vision_token_id": 151654, "image_token_id": 151655, "video_token_id": 151656,
    "vision_config": {"depth": 32, "embed_dim": 1280, "mlp_ratio": 4, "num_heads": 16, "in_chans": 3,
                      "hidden_size": 3584, "patch_size": 14, "spatial_merge_size": 2, "spatial_patch_size": 14,
                      "temporal_patch_size": 2},
}
TOTAL_PARAMS = 11_081_591_520


@pytest.fixture(scope="module")
def real_keys():
    golden_dir = shared_path("awaker_golden")
    rows = [line.split("\t") for line in (golden_dir / "real_keys.tsv").read_text().splitlines() if line]
    return {k: (tuple(json.loads(shape)), dtype) for k, shape, dtype in rows}


@pytest.fixture(scope="module")
def skeleton():
    model = build_skeleton(load_config(QWEN2_VL_7B), AdapterSettings())
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def test_released_keys_map_onto_the_7b_model(real_keys, skeleton):
    assert len(real_keys) == 2186
    mapped = {keymap.convert_key(k): shape for k, (shape, _) in real_keys.items()}
    assert mapped == skeleton  # key set and every shape, transformers-5 layout
    assert sum(torch.Size(s).numel() for s in skeleton.values()) == TOTAL_PARAMS


def test_model_keys_round_trip_through_every_layout(real_keys, skeleton):
    back = {keymap.convert_key(k, keymap.V5, keymap.RELEASED): s for k, s in skeleton.items()}
    assert back == {k: shape for k, (shape, _) in real_keys.items()}
    legacy = keymap.convert_keys(skeleton, keymap.V5, keymap.LEGACY)
    assert keymap.detect_layout(legacy) == keymap.LEGACY
    assert "model.layers.0.mlp.gate_proj.w_gate.weight" in legacy and "visual.merger.ln_q.bias" in legacy
    assert keymap.convert_keys(legacy, keymap.LEGACY, keymap.RELEASED) == list(back)


def test_key_categories_and_adapter_placement(real_keys):
    def category(key: str) -> str:
        if ".lora_A." in key or ".lora_B." in key:
            return "qkv_lora"
        if ".lora_moe_" in key:
            return "global" if key.split(".")[-2] == "g" else "experts"
        if ".w_gate." in key or key.endswith(".ln.weight"):
            return "router"
        return "base"

    counts = Counter(category(k) for k in real_keys)
    assert counts == {"base": 730, "qkv_lora": 168, "experts": 896, "global": 224, "router": 168}
    per_layer = Counter(k.split(".")[4] for k in real_keys if k.startswith("base_model.model.model.layers."))
    assert set(per_layer.values()) == {64} and len(per_layer) == 28
    adapted = [k for k in real_keys if category(k) != "base"]
    assert not [k for k in adapted if "visual" in k or "embed_tokens" in k or "lm_head" in k or "norm." in k]
    routers = {k.split(".")[-3] for k in adapted if category(k) == "router"}
    assert routers == {"o_proj", "gate_proj"}  # up/down hold no router
    # q/k/v LoRA tensors are fp32 in the released bf16 flow
    assert {real_keys[k][1] for k in real_keys if category(k) == "qkv_lora"} == {"float32"}


def test_active_parameters_per_sample(skeleton):
    experts = sum(torch.Size(s).numel() for k, s in skeleton.items() if ".lora_moe_" in k and k.split(".")[-2] in "0123")
    assert sum(torch.Size(s).numel() for s in skeleton.values()) - experts * 3 // 4 == 9_474_124_512
