"""``AwakerModel`` in the harness: processor + routed model, per-row routing records, batch-size invariance."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from PIL import Image

from awaker_eval.config.schema import ModelConfig
from awaker_eval.models.awaker.settings import AdapterSettings
from awaker_eval.models.base import GenerationSettings
from awaker_eval.models.tiny import ensure_tiny_checkpoint


@pytest.fixture(scope="module")
def awaker(tiny_cache_dir):
    """The offline tiny Awaker (``model.checkpoint=tiny``), in fp32 on CPU."""
    from awaker_eval.models.factory import build_model

    cfg = ModelConfig(name="awaker_tiny", kind="awaker2_5_vl", checkpoint="tiny", dtype="float32", device="cpu",
                      cache_dir=str(tiny_cache_dir))
    return build_model(cfg)


def test_tiny_checkpoint_is_released_format_with_base_weights(tiny_cache_dir):
    from awaker_eval.models.awaker import keymap
    from awaker_eval.models.awaker.checkpoint import read_bin, read_checkpoint
    from awaker_eval.models.awaker.tiny import ensure_tiny_awaker_checkpoint

    ckpt = ensure_tiny_awaker_checkpoint(tiny_cache_dir)
    assert ensure_tiny_awaker_checkpoint(tiny_cache_dir) == ckpt  # cached: built once
    assert sorted(p.name for p in ckpt.iterdir()) == ["adapter.json", "awaker_eval_tiny_awaker.json", "pytorch_model.bin"]
    raw = read_bin(ckpt / "pytorch_model.bin")
    assert keymap.detect_layout(raw) == keymap.RELEASED and {t.dtype for t in raw.values()} == {torch.bfloat16}
    counts = Counter(keymap.key_category(k) for k in raw)
    assert counts == {"base": 58, "qkv_lora": 12, "experts": 64, "global": 16, "router": 12}
    assert AdapterSettings.from_json(ckpt / "adapter.json") == AdapterSettings(r=4, lora_alpha=8)
    base = read_checkpoint(ensure_tiny_checkpoint(tiny_cache_dir))
    ours = read_checkpoint(ckpt)
    assert all(torch.equal(ours[k], t.to(torch.bfloat16)) for k, t in base.items())
    assert not any(torch.equal(t, torch.ones_like(t)) for k, t in ours.items() if k.endswith(".ln.weight"))


def _conversations():
    red = Image.new("RGB", (300, 200), (220, 30, 30))
    noise = Image.fromarray((torch.rand(150, 90, 3, generator=torch.Generator().manual_seed(1)) * 255).byte().numpy())
    text = [{"type": "text", "text": "What colour is the image? The best answer is:"}]
    return [
        [{"role": "user", "content": [{"type": "image", "image": red, "max_pixels": 64 * 28 * 28}, *text]}],
        [{"role": "user", "content": [{"type": "text", "text": "Hint: no image. Question: 2+2?"}]}],
        [{"role": "user", "content": [{"type": "image", "image": noise, "max_pixels": 64 * 28 * 28}, *text]}],
    ]


def test_generate_records_routing_per_row_and_batch_equals_single(awaker):
    settings = GenerationSettings(max_new_tokens=5)
    convs = _conversations()
    batched = awaker.generate(awaker.prepare(convs), settings)
    single = [awaker.generate(awaker.prepare([c]), settings)[0] for c in convs]
    assert [o.text for o in batched] == [o.text for o in single]
    assert [o.routing for o in batched] == [o.routing for o in single]  # decode None where a row stopped at once
    for r in (o.routing for o in batched):
        assert r["mode"] == "fork" and r["routers"] == ["self_attn.o_proj", "mlp.gate_proj"]
        assert len(r["prefill"]["expert"]) == 2 and all(len(x) == 2 for x in r["prefill"]["expert"])
        assert all(0.25 <= p <= 1 for layer in r["prefill"]["p"] for p in layer)
    text_only = batched[1].routing
    assert text_only["decode"] is None or text_only["prefill"] == text_only["decode"]  # raw == merged embeddings
    assert any(o.routing["decode"] is not None for o in batched)
    fp = awaker.fingerprint()
    assert fp["routing_mode"] == "fork" and fp["adapter"] == {"r": 4, "lora_alpha": 8, "experts": 4}
    assert fp["checkpoint"] == "tiny"


def test_choice_scoring_carries_prefill_routing(awaker):
    outs = awaker.score_choices(awaker.prepare(_conversations()[:2]), [list("AB"), list("AB")])
    assert all(o.routing["decode"] is None and len(o.routing["prefill"]["p"]) == 2 for o in outs)
    assert all(abs(sum(torch.tensor(list(o.choice_logprobs.values())).exp().tolist())) <= 1 for o in outs)


def test_hydra_model_config_composes():
    from hydra import compose, initialize_config_dir

    from awaker_eval.config.schema import register_configs

    register_configs()
    conf = str(__import__("pathlib").Path(__file__).resolve().parents[1] / "conf")
    with initialize_config_dir(config_dir=conf, version_base=None):
        cfg = compose("config", overrides=["model=awaker2_5_vl", "model.routing_mode=consistent"]).model
    assert (cfg.kind, cfg.path, cfg.checkpoint, cfg.checkpoint_revision) == (
        "awaker2_5_vl", "Qwen/Qwen2-VL-7B-Instruct", "MetabrainAGI/Awaker2.5-VL", "0e6c388")
    assert (cfg.dtype, cfg.attn_implementation, cfg.routing_mode, cfg.device) == ("bfloat16", "sdpa", "consistent", "auto")


def test_missing_local_checkpoint_is_named(tmp_path):
    from awaker_eval.models.awaker.backend import resolve_awaker_checkpoint
    from awaker_eval.models.loading import CheckpointNotFound

    with pytest.raises(CheckpointNotFound, match="model.checkpoint=.*nothere.bin.*does not exist"):
        resolve_awaker_checkpoint(str(tmp_path / "nothere.bin"), None)
