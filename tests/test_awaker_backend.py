"""``AwakerModel`` in the harness: processor + routed model, per-row routing records, batch-size invariance."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from awaker_eval.config.schema import ModelConfig
from awaker_eval.models.awaker.build import build_skeleton, load_config
from awaker_eval.models.awaker.checkpoint import to_released_layout
from awaker_eval.models.awaker.settings import AdapterSettings
from awaker_eval.models.base import GenerationSettings
from awaker_eval.models.tiny import ensure_tiny_checkpoint


@pytest.fixture(scope="module")
def awaker(tmp_path_factory):
    from awaker_eval.models.factory import build_model

    root = tmp_path_factory.mktemp("awaker")
    base = ensure_tiny_checkpoint(root / "cache")
    settings = AdapterSettings(r=4, lora_alpha=8)
    (root / "ckpt").mkdir()
    (root / "ckpt" / "adapter.json").write_text(json.dumps({"r": 4, "lora_alpha": 8}))
    gen = torch.Generator().manual_seed(0)
    state = {}
    for key, t in build_skeleton(load_config(base), settings).state_dict().items():
        scale = 2.5 / t.shape[-1] ** 0.5 if ".w_gate." in key else 0.3
        state[key] = (1.0 + 0.1 * torch.randn(t.shape, generator=gen)) if key.endswith("norm.weight") or \
            key.endswith(".ln.weight") else torch.randn(t.shape, generator=gen) * scale
        state[key] = state[key].to(torch.bfloat16)
    torch.save(to_released_layout(state), root / "ckpt" / "pytorch_model.bin")
    cfg = ModelConfig(name="awaker_tiny", kind="awaker2_5_vl", path=str(base),
                      checkpoint=str(root / "ckpt" / "pytorch_model.bin"), dtype="float32", device="cpu")
    return build_model(cfg)


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
    for b, s in zip(batched, single):
        r = b.routing
        assert r["mode"] == "fork" and r["routers"] == ["self_attn.o_proj", "mlp.gate_proj"]
        assert len(r["prefill"]["expert"]) == 2 and all(len(x) == 2 for x in r["prefill"]["expert"])
        assert all(0.25 <= p <= 1 for layer in r["prefill"]["p"] for p in layer)
        assert r["prefill"]["expert"] == s.routing["prefill"]["expert"]
        assert r["decode"]["expert"] == s.routing["decode"]["expert"]
    assert batched[1].routing["prefill"] == batched[1].routing["decode"]  # text-only: raw == merged embeddings
    fp = awaker.fingerprint()
    assert fp["routing_mode"] == "fork" and fp["adapter"] == {"r": 4, "lora_alpha": 8, "experts": 4}


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
