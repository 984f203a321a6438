"""``AwakerModel`` in the harness: processor + routed model, per-row routing records, batch-size invariance."""

from __future__ import annotations

import dataclasses
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
        "awaker2_5_vl", "Qwen/Qwen2-VL-7B-Instruct", "MetabrainAGI/Awaker2.5-VL",
        "0e6c388c6f50d4619e709d82dec42509d459ba44")
    assert (cfg.dtype, cfg.attn_implementation, cfg.routing_mode, cfg.device) == ("bfloat16", "sdpa", "consistent", "auto")


def test_missing_local_checkpoint_is_named(tmp_path):
    from awaker_eval.models.awaker.backend import resolve_awaker_checkpoint
    from awaker_eval.models.loading import CheckpointNotFound

    with pytest.raises(CheckpointNotFound, match="model.checkpoint=.*nothere.bin.*does not exist"):
        resolve_awaker_checkpoint(str(tmp_path / "nothere.bin"), None)


FULL_SHA = "0e6c388" + "a" * 33  # what the hub knows revision 0e6c388 as (the hub needs full commit ids)


class _Commit:
    def __init__(self, commit_id):
        self.commit_id = commit_id


def test_hub_checkpoint_downloads_the_released_file_at_the_full_commit(monkeypatch, tmp_path):
    import huggingface_hub

    from awaker_eval.models.awaker.backend import resolve_awaker_checkpoint

    calls = []
    monkeypatch.setattr(huggingface_hub.HfApi, "list_repo_commits",
                        lambda self, repo, **kw: [_Commit("f" * 40), _Commit(FULL_SHA), _Commit("0" * 40)])
    monkeypatch.setattr(huggingface_hub, "hf_hub_download",
                        lambda repo, filename, revision=None: calls.append((repo, filename, revision)) or "/x/y.bin")
    assert resolve_awaker_checkpoint("MetabrainAGI/Awaker2.5-VL", "0e6c388") == __import__("pathlib").Path("/x/y.bin")
    assert calls == [("MetabrainAGI/Awaker2.5-VL", "pytorch_model.bin", FULL_SHA)]


def test_short_revision_offline_uses_the_cached_snapshot_and_ambiguity_fails(monkeypatch, tmp_path):
    import huggingface_hub
    from huggingface_hub import constants

    from awaker_eval.models.awaker.backend import full_revision
    from awaker_eval.models.loading import CheckpointNotFound

    def offline(self, repo, **kw):
        raise OSError("hub unreachable")

    monkeypatch.setattr(huggingface_hub.HfApi, "list_repo_commits", offline)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    assert full_revision("MetabrainAGI/Awaker2.5-VL", "0e6c388") == "0e6c388"  # nothing cached: hub will say why
    (tmp_path / "models--MetabrainAGI--Awaker2.5-VL" / "snapshots" / FULL_SHA).mkdir(parents=True)
    assert full_revision("MetabrainAGI/Awaker2.5-VL", "0e6c388") == FULL_SHA
    assert full_revision("MetabrainAGI/Awaker2.5-VL", "main") == "main" and full_revision("x/y", None) is None
    (tmp_path / "models--MetabrainAGI--Awaker2.5-VL" / "snapshots" / ("0e6c388" + "b" * 33)).mkdir()
    with pytest.raises(CheckpointNotFound, match="revision '0e6c388' .*2 commits"):
        full_revision("MetabrainAGI/Awaker2.5-VL", "0e6c388")


def test_hub_base_fetches_config_tokenizer_and_processor_files_only(monkeypatch, tmp_path):
    import fnmatch

    import huggingface_hub

    from awaker_eval.models.awaker.backend import resolve_awaker_base

    seen = {}
    monkeypatch.setattr(huggingface_hub, "snapshot_download",
                        lambda repo, revision=None, allow_patterns=None: seen.update(
                            repo=repo, revision=revision, patterns=allow_patterns) or str(tmp_path))
    assert resolve_awaker_base("Qwen/Qwen2-VL-7B-Instruct", None) == str(tmp_path)
    assert seen["repo"] == "Qwen/Qwen2-VL-7B-Instruct" and seen["revision"] is None
    wanted = ["config.json", "generation_config.json", "preprocessor_config.json", "tokenizer.json", "vocab.json",
              "tokenizer_config.json", "merges.txt", "chat_template.json"]
    weights = ["model-00001-of-00005.safetensors", "pytorch_model.bin"]
    assert all(any(fnmatch.fnmatch(f, p) for p in seen["patterns"]) for f in wanted)
    assert not any(fnmatch.fnmatch(f, p) for f in weights for p in seen["patterns"])
    assert resolve_awaker_base(str(tmp_path), None) == str(tmp_path)  # a local directory as is


def test_choice_scoring_routes_like_generate_prefill_and_scores_the_full_forward(awaker, monkeypatch):
    """score_choices (``choice_padding=left``) passes ``logits_to_keep=1`` inside the routing session: same routing
    as generate's prefill, same log-probs as the last position of a full forward (``right`` against ``left``:
    tests/test_choice_padding.py)."""
    monkeypatch.setattr(awaker, "cfg", dataclasses.replace(awaker.cfg, choice_padding="left"))
    prepared = awaker.prepare(_conversations())
    outs = awaker.score_choices(prepared, [list("AB")] * 3)
    gen = awaker.generate(prepared, GenerationSettings(max_new_tokens=1))
    assert [o.routing["prefill"] for o in outs] == [g.routing["prefill"] for g in gen]
    assert len({str(o.routing["prefill"]["expert"]) for o in outs}) > 1  # the rows route differently
    inputs = prepared.to(awaker.device)
    with torch.inference_mode(), awaker._generation_context(inputs):
        full = torch.log_softmax(awaker.hf_model(**inputs).logits[:, -1].float(), dim=-1)
    ids = awaker.letter_token_ids(list("AB"))
    for row, o in enumerate(outs):
        assert o.choice_logprobs == pytest.approx({L: float(full[row, i]) for L, i in zip("AB", ids)}, abs=1e-5)
        assert o.text == max(o.choice_logprobs, key=o.choice_logprobs.get)
