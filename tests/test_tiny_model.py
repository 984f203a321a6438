"""The tiny offline Qwen2-VL: deterministic build, offline reload with identical logits, batch invariance."""

from __future__ import annotations

import hashlib

import pytest
import torch
from PIL import Image

from awaker_eval.models.base import GenerationSettings
from awaker_eval.models.tiny import SPECIAL_TOKENS, build_tiny_checkpoint


def _conversations():
    red = Image.new("RGB", (300, 200), (220, 30, 30))
    tall = Image.new("RGB", (90, 260), (20, 200, 60))
    return [
        [{"role": "user", "content": [{"type": "image", "image": red, "max_pixels": 64 * 28 * 28},
                                      {"type": "text", "text": "What colour is the image? The best answer is:"}]}],
        [{"role": "user", "content": [{"type": "image", "image": tall, "max_pixels": 64 * 28 * 28},
                                      {"type": "text", "text": "How many shapes?"}]}],
        [{"role": "user", "content": [{"type": "text", "text": "Hint: no image. Question: 2+2?"}]}],
    ]


def test_build_is_deterministic(tmp_path):
    a = build_tiny_checkpoint(tmp_path / "a")
    b = build_tiny_checkpoint(tmp_path / "b")
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert hashlib.sha256((a / name).read_bytes()).hexdigest() == hashlib.sha256((b / name).read_bytes()).hexdigest()


def test_tokenizer_carries_qwen2_vl_special_tokens_and_template(tiny_model):
    tok = tiny_model.processor.tokenizer
    for token in SPECIAL_TOKENS:
        ids = tok.encode(token, add_special_tokens=False)
        assert len(ids) == 1 and tok.convert_ids_to_tokens(ids[0]) == token
    text = tiny_model.processor.apply_chat_template(_conversations()[0], tokenize=False, add_generation_prompt=True)
    assert text == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
        "<|vision_start|><|image_pad|><|vision_end|>What colour is the image? The best answer is:<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    cfg = tiny_model.hf_model.config
    assert cfg.image_token_id == tok.convert_tokens_to_ids("<|image_pad|>")
    assert cfg.vision_start_token_id == tok.convert_tokens_to_ids("<|vision_start|>")


def test_reload_offline_gives_identical_logits(tiny_model, monkeypatch):
    from awaker_eval.config.schema import ModelConfig
    from awaker_eval.models.qwen2_vl import Qwen2VLModel

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    reloaded = Qwen2VLModel(ModelConfig(kind="qwen2_vl", path=tiny_model.local_path, dtype="float32", device="cpu"))
    inputs = tiny_model.prepare(_conversations())
    with torch.inference_mode():
        first = tiny_model.hf_model(**inputs).logits
        second = reloaded.hf_model(**inputs).logits
    assert torch.equal(first, second)
    assert reloaded.fingerprint()["weights"] == tiny_model.fingerprint()["weights"]


def test_batched_generation_equals_per_sample(tiny_model):
    settings = GenerationSettings(max_new_tokens=6)
    convs = _conversations()
    batched = [o.text for o in tiny_model.generate(tiny_model.prepare(convs), settings)]
    single = [tiny_model.generate(tiny_model.prepare([c]), settings)[0].text for c in convs]
    assert batched == single
    assert all(isinstance(t, str) for t in batched)


def test_choice_scores_are_log_probabilities(tiny_model):
    outs = tiny_model.score_choices(tiny_model.prepare(_conversations()[:2]), [list("ABCDE"), list("AB")])
    assert list(outs[0].choice_logprobs) == list("ABCDE") and list(outs[1].choice_logprobs) == ["A", "B"]
    for out in outs:
        assert all(v < 0 for v in out.choice_logprobs.values())
        assert out.text == max(out.choice_logprobs, key=out.choice_logprobs.get)
    # logprobs of the whole vocabulary sum to 1, so the letters' probabilities sum to at most 1
    assert sum(torch.tensor(list(outs[0].choice_logprobs.values())).exp()) <= 1.0 + 1e-6


def test_multi_token_letter_is_rejected(tiny_model):
    with pytest.raises(ValueError, match="not a single token"):
        tiny_model.letter_token_ids(["Answer A"])


def test_over_long_prompt_is_that_samples_error_only(tiny_model):
    from awaker_eval.engine.loader import BatchBuilder
    from awaker_eval.models.qwen2_vl import PromptTooLong, Qwen2VLPreparer

    convs = _conversations()
    long_text = [{"role": "user", "content": [{"type": "text", "text": "count the shapes " * 300}]}]
    preparer = Qwen2VLPreparer(tiny_model.processor, max_prompt_tokens=400)
    with pytest.raises(PromptTooLong, match="exceeds the model context of 400 tokens"):
        preparer([long_text])
    batch = BatchBuilder(preparer)([(0, convs[0], None, 0.0), (1, long_text, None, 0.0), (2, convs[2], None, 0.0)])
    assert batch.indices == [0, 2]
    assert batch.errors[1].startswith("PromptTooLong: prompt of ")
    assert tiny_model.preparer().max_prompt_tokens == tiny_model.hf_model.config.text_config.max_position_embeddings
