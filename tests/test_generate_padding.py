"""Generate mode with ``model.generate_padding=right`` (models/greedy_right.py): the same new token ids, texts and
routing records as HF ``generate`` on the left-padded batch (tiny Qwen2-VL and tiny Awaker, fp32, both routing
modes), eos stops and pad filling as HF does them, no 4D mask in the prefill, HF ``generate`` whenever the loop
would not be exact, the setting validated and recorded only where it changes results."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from awaker_eval.models import greedy_right as greedy_module
from awaker_eval.models.base import GenerationSettings
from test_choice_padding import _conversations, _spy
from tiny_models import tiny

# (steps, pads per row) where rows stop at the tiny model's own eos: row 0 after 13 tokens, rows 1-3 earlier
STOPS = {("tiny", 16): (13, [0, 1, 7, 1])}
EXACT = "model.generate_padding=right fell back to HF generate (left padding): "


@pytest.fixture(scope="module")
def models(tiny_cache_dir):
    return lambda which, dtype="float32": tiny(which, dtype, str(tiny_cache_dir))


def _run(model, monkeypatch, padding: str, max_new_tokens: int, **settings):
    """``(new token ids [B, T], outputs)`` of one generate call with ``model.generate_padding=padding``."""
    monkeypatch.setattr(model, "cfg", dataclasses.replace(model.cfg, generate_padding=padding))
    seen = []
    decode = model.processor.batch_decode

    def spy(ids, **kwargs):
        seen.append(ids.clone())
        return decode(ids, **kwargs)

    monkeypatch.setattr(model.processor, "batch_decode", spy)
    try:
        out = model.generate(model.prepare(_conversations()), GenerationSettings(max_new_tokens, **settings))
    finally:
        monkeypatch.setattr(model.processor, "batch_decode", decode)
    return seen[0], out


def _both(model, monkeypatch, max_new_tokens: int, **settings):
    left = _run(model, monkeypatch, "left", max_new_tokens, **settings)
    right = _run(model, monkeypatch, "right", max_new_tokens, **settings)
    return left, right


def _same(left, right):
    assert torch.equal(left[0], right[0])
    assert [o.text for o in left[1]] == [o.text for o in right[1]]
    assert [o.routing for o in left[1]] == [o.routing for o in right[1]]
    assert [o.n_prompt_tokens for o in left[1]] == [o.n_prompt_tokens for o in right[1]]


@pytest.mark.parametrize("max_new_tokens", [2, 16])
@pytest.mark.parametrize("which,routing_mode", [("tiny", None), ("awaker", "fork"), ("awaker", "consistent")])
def test_right_gives_hf_generates_ids_texts_and_routing(models, monkeypatch, which, routing_mode, max_new_tokens):
    model = models(which)
    if routing_mode is not None:
        monkeypatch.setattr(model.routing, "mode", routing_mode)
    left, right = _both(model, monkeypatch, max_new_tokens)
    _same(left, right)
    steps, pads = STOPS.get((which, max_new_tokens), (max_new_tokens, [0, 0, 0, 0]))
    assert left[0].shape == (4, steps) and (left[0] == model.pad_token_id).sum(1).tolist() == pads
    assert model.generate_fallback is None
    if which == "awaker":
        assert all(o.routing["mode"] == routing_mode and o.routing["decode"]["expert"] for o in right[1])


@pytest.mark.parametrize("which", ["tiny", "awaker"])
def test_rows_that_hit_eos_end_as_in_hf_generate(models, monkeypatch, which):
    """eos = a token row 1 writes at step 3 (rows 1 and others stop there or later, then pads), and eos = row 2's first
    token (it stops at once: pads after it, and its Awaker record has no decode route, as with HF)."""
    model = models(which)
    plain = _run(model, monkeypatch, "left", 16)[0]
    pad = model.pad_token_id
    for eos, row, step in ((int(plain[1, 3]), 1, 3), (int(plain[2, 0]), 2, 0)):
        monkeypatch.setattr(model, "eos_token_id", [eos, pad])
        left, right = _both(model, monkeypatch, 16)
        _same(left, right)
        first_stop = int((left[0][row] == eos).nonzero()[0])
        assert first_stop <= step and left[0][row, first_stop + 1:].eq(pad).all()
        if which == "awaker" and step == 0:
            assert right[1][row].routing["decode"] is None
    every_first = [int(t) for t in plain[:, 0]]
    monkeypatch.setattr(model, "eos_token_id", every_first)
    left, right = _both(model, monkeypatch, 16)  # every row stops at its first token: one step, like HF
    _same(left, right)
    assert right[0].shape == (4, 1)


@pytest.mark.parametrize("which", ["tiny", "awaker"])
def test_right_prefill_builds_no_4d_mask(models, monkeypatch, which):
    model = models(which)
    layers = model.hf_model.config.text_config.num_hidden_layers
    masks, sdpa = _spy(monkeypatch)
    _run(model, monkeypatch, "right", 3)
    prefill = [call for call in sdpa if call[1]]  # the LLM's is_causal calls: the prefill only
    assert masks[0] is None and len(prefill) == layers and all(mask is None for mask, _ in prefill)
    assert len(masks) == 3 and all(m.dim() == 4 for m in masks[1:])  # decode steps: the 2-D pad mask
    masks.clear(), sdpa.clear()
    _run(model, monkeypatch, "left", 3)  # HF generate on the left-padded batch: a 4D mask in the prefill
    assert masks[0].dim() == 4 and not any(call[1] for call in sdpa)


def test_right_falls_back_to_hf_generate_unless_plain_greedy(models, monkeypatch):
    model = models("tiny")
    monkeypatch.setattr(model, "generate_fallback", None)
    calls = []
    loop = greedy_module.greedy_right
    monkeypatch.setattr("awaker_eval.models.qwen2_vl.greedy_right", lambda *a, **k: calls.append(1) or loop(*a, **k))
    left, right = _both(model, monkeypatch, 6, repetition_penalty=1.3)
    _same(left, right)
    assert calls == []
    assert model.generate_fallback == EXACT + "logits processors RepetitionPenaltyLogitsProcessor"
    info = model.attention_info()
    assert info["llm_generate_fallback"] == model.generate_fallback
    assert info["llm_generate_prefill"].startswith("sdpa with a 4D padding mask")  # what ran: HF generate
    _run(model, monkeypatch, "right", 2)
    assert calls == [1]


def test_a_generation_config_of_the_checkpoint_that_adds_processors_is_honoured(models, monkeypatch):
    """A processor from the checkpoint's generation_config (here no_repeat_ngram_size) makes HF generate differ from
    argmax, so the loop is not used (the merged config is asked, not a list of keys)."""
    model = models("tiny")
    monkeypatch.setattr(model, "generate_fallback", None)
    config = model.hf_model.generation_config
    monkeypatch.setattr(config, "no_repeat_ngram_size", 2)
    left, right = _both(model, monkeypatch, 8)
    _same(left, right)
    assert model.generate_fallback == EXACT + "logits processors NoRepeatNGramLogitsProcessor"


def test_generate_padding_is_validated_and_recorded_for_generate_runs_only(tmp_path):
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from awaker_eval.app import CONF_DIR
    from awaker_eval.config.schema import ModelConfig, register_configs
    from awaker_eval.models.loading import fingerprint_hash
    from awaker_eval.pipeline import protocol_fingerprint_of
    from awaker_eval.preflight import ConfigError, preflight
    from awaker_eval.prompts import protocol_fingerprint
    from awaker_eval.tasks.registry import get_benchmark
    from awaker_eval.rundir import RunDirMismatch, check_same_results, default_run_id, settings_diff, write_config

    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        def cfg(*overrides):
            return OmegaConf.to_object(compose("config", overrides=list(overrides)))

        runs = {(mode, pad): cfg(f"runner.mode={mode}", f"model.generate_padding={pad}")
                for mode in ("choice", "generate") for pad in ("left", "right")}
        for model in ("tiny", "awaker_tiny", "qwen2_vl", "awaker2_5_vl"):
            assert compose("config", overrides=[f"model={model}"]).model.generate_padding == "left"
        bad = cfg("model.generate_padding=middle")
    mme = get_benchmark("mme_realworld")
    fps = {key: protocol_fingerprint_of(run, mme) for key, run in runs.items()}
    plain = runs["generate", "left"]
    earlier = fingerprint_hash({"benchmark": protocol_fingerprint(plain.benchmark, mme), "mode": "generate",
                                "repetition_penalty": plain.runner.repetition_penalty})
    assert fps["generate", "right"] != fps["generate", "left"] == earlier
    assert fps["choice", "right"] == fps["choice", "left"]

    def same_default(f):
        if f.default_factory is not dataclasses.MISSING:
            return dataclasses.field(default_factory=f.default_factory)
        return dataclasses.field(default=f.default)

    fields = [(f.name, f.type, same_default(f)) for f in dataclasses.fields(ModelConfig) if f.name != "generate_padding"]
    before = dataclasses.make_dataclass("ModelConfig", fields)  # the schema before the setting existed

    def old(run):
        kept = {k: v for k, v in dataclasses.asdict(run.model).items() if k != "generate_padding"}
        return dataclasses.replace(run, model=before(**kept))

    ids = {key: default_run_id(run, "digest") for key, run in runs.items()}
    assert ids["generate", "left"] == default_run_id(old(plain), "digest")  # stored generate runs keep their id
    assert ids["generate", "right"] != ids["generate", "left"]
    assert ids["choice", "right"] == ids["choice", "left"] == default_run_id(old(runs["choice", "left"]), "digest")
    for mode in ("generate", "choice"):  # a run directory made with left, invoked with right
        write_config(tmp_path / mode, runs[mode, "left"])
        diff = settings_diff(tmp_path / mode, runs[mode, "right"])
        assert diff == {"model.generate_padding": ["left", "right"]}
        if mode == "choice":
            check_same_results(tmp_path / mode, diff)  # choice results do not depend on it
            continue
        with pytest.raises(RunDirMismatch, match=r"other settings \(model.generate_padding: 'left' there, 'right' now"):
            check_same_results(tmp_path / mode, diff)
    with pytest.raises(ConfigError) as err:
        preflight(bad)
    assert str(err.value) == "model.generate_padding='middle' is unknown: use one of left, right"


def test_right_refuses_a_batch_that_is_not_left_padded(models, monkeypatch):
    from awaker_eval.models.padding import PaddingError

    model = models("tiny")
    monkeypatch.setattr(model, "cfg", dataclasses.replace(model.cfg, generate_padding="right"))
    prepared = model.prepare(_conversations())
    prepared["attention_mask"] = prepared["attention_mask"].flip(1)
    with pytest.raises(PaddingError):
        model.generate(prepared, GenerationSettings(2))
