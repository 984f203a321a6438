"""Choice mode with ``model.choice_padding=right``: the same letters and routing records as the left-padded path,
logprobs equal for unpadded rows and within fp tolerance for padded ones, mrope positions of real tokens unchanged,
no 4D mask built, the setting validated and recorded in the fingerprint."""

from __future__ import annotations

import math

import pytest
import torch
from PIL import Image

from awaker_eval.models.hf_compat import kwargs_cache
from awaker_eval.models.padding import PaddingError, right_padded
from tiny_models import tiny, with_choice_padding

LETTERS = list("ABCD")


def _image(w: int, h: int, seed: int) -> Image.Image:
    g = torch.Generator().manual_seed(seed)
    return Image.fromarray((torch.rand(h, w, 3, generator=g) * 255).byte().numpy())


def _conversations() -> list:
    """Three images of different sizes and prompt lengths plus a text-only prompt: every row padded differently."""
    convs = []
    for i, (w, h) in enumerate([(60, 40), (40, 70), (50, 50)]):
        convs.append([{"role": "user", "content": [
            {"type": "image", "image": _image(w, h, i), "min_pixels": 28 * 28, "max_pixels": 56 * 56},
            {"type": "text", "text": "Which option? " + "more words " * (3 * i)}]}])
    convs.append([{"role": "user", "content": [{"type": "text", "text": "Text only: 2+2?"}]}])
    return convs


class _Pairs:
    """``pairs[which, dtype]`` -> (left, right): one loaded model, its ``choice_padding`` set as each is used."""

    def __init__(self, cache_dir: str):
        self.cache_dir = cache_dir

    def __getitem__(self, key):
        model = tiny(*key, self.cache_dir)
        return _Padded(model, "left"), _Padded(model, "right")


class _Padded:
    def __init__(self, model, padding: str):
        self.model, self.padding = model, padding

    def __getattr__(self, name):
        return getattr(with_choice_padding(self.model, self.padding), name)


@pytest.fixture(scope="module")
def pairs(tiny_cache_dir):
    return _Pairs(str(tiny_cache_dir))


def _max_diff(a, b) -> float:
    return max(abs(x.choice_logprobs[k] - y.choice_logprobs[k]) for x, y in zip(a, b) for k in x.choice_logprobs)


def test_right_padding_moves_tokens_to_the_front_and_refuses_other_layouts():
    batch = {"input_ids": torch.tensor([[0, 0, 5, 6], [7, 8, 9, 1]]), "attention_mask": torch.tensor([[0, 0, 1, 1],
                                                                                                      [1, 1, 1, 1]]),
             "mm_token_type_ids": torch.tensor([[0, 0, 1, 0], [0, 1, 1, 0]]), "pixel_values": torch.ones(2, 4)}
    out = right_padded(batch)
    assert out["input_ids"].tolist() == [[5, 6, 0, 0], [7, 8, 9, 1]]
    assert out["attention_mask"].tolist() == [[1, 1, 0, 0], [1, 1, 1, 1]]
    assert out["mm_token_type_ids"].tolist() == [[1, 0, 0, 0], [0, 1, 1, 0]]
    assert out["pixel_values"] is batch["pixel_values"]  # not a per-token entry: unchanged
    message = "attention_mask is not left-padded (pads only before each row's tokens, at least one token)"
    for mask in ([[1, 1, 0, 0], [1, 1, 1, 1]], [[1, 0, 1, 1], [1, 1, 1, 1]], [[0, 0, 0, 0], [1, 1, 1, 1]]):
        with pytest.raises(PaddingError) as err:
            right_padded({**batch, "attention_mask": torch.tensor(mask)})
        assert str(err.value) == message


def _bf16_steps(outputs, steps: int) -> float:
    """``steps`` bf16 rounding steps at the largest |logprob| of ``outputs`` (the logits are bf16 values there)."""
    largest = max(abs(v) for o in outputs for v in o.choice_logprobs.values())
    return steps * 2.0 ** (math.floor(math.log2(largest)) - 7)


@pytest.mark.parametrize("which", ["tiny", "awaker"])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_right_and_left_give_the_same_letters_and_routing(pairs, which, dtype):
    """Letters and routing identical; log-probs of the 4 padded rows within 5e-5 in fp32, and within 4 bf16 steps
    at their magnitude in bf16 (the two paths sum in another order, and bf16 kernels differ by processor).
    Measured max |logprob difference|: tiny 8e-6 (fp32) / 0.0625 (bf16); tiny Awaker 2.7e-5 / 0.35 with ATen's AVX2
    kernels and 0.62 with its AVX512 kernels on a CPU with avx512_bf16 (logprobs near -35, one bf16 step 0.25:
    tolerance 1.0); left's own batch-vs-alone spread on the same rows is 3.8e-5 / 0.25. Unpadded rows are
    bit-identical on every processor (asserted below)."""
    left, right = pairs[which, dtype]
    convs = _conversations()
    a = left.score_choices(left.prepare(convs), [LETTERS] * len(convs))
    b = right.score_choices(right.prepare(convs), [LETTERS] * len(convs))
    assert [o.text for o in a] == [o.text for o in b]
    assert [o.routing for o in a] == [o.routing for o in b]
    assert _max_diff(a, b) <= (5e-5 if dtype == "float32" else _bf16_steps(a, 4))
    for conv in convs:  # one row, no padding: the two paths are the same computation
        alone_a = left.score_choices(left.prepare([conv]), [LETTERS])
        alone_b = right.score_choices(right.prepare([conv]), [LETTERS])
        assert [o.choice_logprobs for o in alone_a] == [o.choice_logprobs for o in alone_b]
        assert [o.routing for o in alone_a] == [o.routing for o in alone_b]
    if which == "awaker":
        assert all(o.routing["prefill"]["expert"] and o.routing["decode"] is None for o in b)


def test_mrope_positions_of_real_tokens_are_unchanged(pairs):
    model = pairs["tiny", "float32"][1]
    prepared = model.prepare(_conversations())
    right = right_padded(prepared)
    base = model.hf_model.model
    common = {"image_grid_thw": prepared["image_grid_thw"]}
    left_pos, _ = base.get_rope_index(prepared["input_ids"], mm_token_type_ids=prepared["mm_token_type_ids"],
                                      attention_mask=prepared["attention_mask"], **common)
    masked_pos, _ = base.get_rope_index(right["input_ids"], mm_token_type_ids=right["mm_token_type_ids"],
                                        attention_mask=right["attention_mask"], **common)
    open_pos, _ = base.get_rope_index(right["input_ids"], mm_token_type_ids=right["mm_token_type_ids"],
                                      attention_mask=None, **common)
    assert int((prepared["attention_mask"] == 0).sum()) > 0  # the batch is padded
    for b in range(prepared["input_ids"].shape[0]):
        left_real = left_pos[:, b, prepared["attention_mask"][b].bool()]
        right_real = right["attention_mask"][b].bool()
        assert torch.equal(left_real, masked_pos[:, b, right_real])
        assert torch.equal(left_real, open_pos[:, b, right_real])


def _spy(monkeypatch):
    """Records what create_causal_mask returns and each SDPA call's attn_mask / is_causal (LLM and vision)."""
    import transformers.models.qwen2_vl.modeling_qwen2_vl as qwen

    masks, sdpa = [], []
    make_mask, attention = qwen.create_causal_mask, torch.nn.functional.scaled_dot_product_attention

    def spy_mask(*args, **kwargs):
        masks.append(make_mask(*args, **kwargs))
        return masks[-1]

    def spy_sdpa(*args, **kwargs):
        sdpa.append((kwargs.get("attn_mask"), kwargs.get("is_causal")))
        return attention(*args, **kwargs)

    monkeypatch.setattr(qwen, "create_causal_mask", spy_mask)
    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy_sdpa)
    return masks, sdpa


@pytest.mark.parametrize("which", ["tiny", "awaker"])
def test_right_path_builds_no_4d_mask(pairs, which, monkeypatch):
    left, right = pairs[which, "float32"]
    layers = left.hf_model.config.text_config.num_hidden_layers
    convs = _conversations()
    masks, sdpa = _spy(monkeypatch)
    right.score_choices(right.prepare(convs), [LETTERS] * len(convs))
    assert masks == [None]
    llm_calls = [call for call in sdpa if call[1]]
    assert len(llm_calls) == layers and all(mask is None for mask, _ in sdpa)
    masks.clear(), sdpa.clear()
    left.score_choices(left.prepare(convs), [LETTERS] * len(convs))  # today's path: a padded batch needs the mask
    assert len(masks) == 1 and masks[0].dim() == 4
    assert sum(mask is not None for mask, _ in sdpa) == layers


def test_choice_padding_is_in_the_fingerprint_and_validated(pairs):
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from awaker_eval.app import CONF_DIR
    from awaker_eval.config.schema import register_configs
    from awaker_eval.preflight import ConfigError, preflight

    from awaker_eval.models.loading import fingerprint_hash
    from awaker_eval.pipeline import protocol_fingerprint_of
    from awaker_eval.prompts import protocol_fingerprint
    from awaker_eval.tasks.registry import get_benchmark

    mme = get_benchmark("mme_realworld")
    left, right = pairs["awaker", "float32"]
    assert right.fingerprint() == left.fingerprint()  # a model setting of choice mode only: see the protocol
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        fps = {(mode, pad): protocol_fingerprint_of(OmegaConf.to_object(compose("config", overrides=[
            f"runner.mode={mode}", f"model.choice_padding={pad}"])), mme) for mode in ("choice", "generate")
            for pad in ("left", "right")}
        plain = OmegaConf.to_object(compose("config", overrides=["runner.mode=choice"]))
        earlier = fingerprint_hash({"benchmark": protocol_fingerprint(plain.benchmark, mme), "mode": "choice",
                                    "repetition_penalty": plain.runner.repetition_penalty})
        for model in ("tiny", "awaker_tiny", "qwen2_vl", "awaker2_5_vl"):
            assert compose("config", overrides=[f"model={model}"]).model.choice_padding == "right"
        cfg = OmegaConf.to_object(compose("config", overrides=["model.choice_padding=middle"]))
    assert fps["choice", "right"] != fps["choice", "left"] == earlier  # left: the fingerprint stored runs carry
    assert fps["generate", "right"] == fps["generate", "left"]  # generate mode: stored runs stay valid
    with pytest.raises(ConfigError) as err:
        preflight(cfg)
    assert str(err.value) == "model.choice_padding='middle' is unknown: use one of right, left"


@pytest.mark.parametrize("which", ["tiny", "awaker"])
def test_choice_forward_keeps_no_kv_cache(pairs, which):
    """One forward needs no cache: none is built (at the 7B shape it would hold about 57 KB per prompt token)."""
    convs = _conversations()
    for padded in pairs[which, "float32"]:
        seen = []
        lm = padded.model.hf_model.model.language_model
        handle = lm.register_forward_pre_hook(
            lambda module, args, kwargs: seen.append((kwargs.get("use_cache"), kwargs_cache(kwargs))),
            with_kwargs=True)
        try:
            padded.score_choices(padded.prepare(convs), [LETTERS] * len(convs))
        finally:
            handle.remove()
        assert seen == [(False, None)], padded.padding
