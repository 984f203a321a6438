"""Run-start self-checks of the Qwen2-VL backend's fast paths (``models/self_checks.py`` runs them).

Tolerances (documented here, recorded with each result):
- batched vision attention: bit-equal to transformers' per-segment attention on the CPU (the path's claim, tested);
  on CUDA SDPA may choose another kernel for a batch of segments than for one, so 1e-4 (fp32) / 2e-2 (bf16, fp16)
  of the largest |output|;
- vision reuse: bit-equal (each image is encoded alone either way; a cache hit must return that image's features);
- right-padded choice prefill: letters and routing records equal to the left-padded path's (a letter may differ only
  where the left path's top two log-probs are within the tolerance), log-probs within 1e-3 (fp32) or 4 rounding
  steps of the model dtype at their magnitude (the two paths sum in another order);
- right-padded greedy generation: texts and routing records equal to HF ``generate``'s on the left-padded batch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from typing import Iterator

import torch

from awaker_eval.models.base import GenerationSettings
from awaker_eval.models.probe_inputs import (PROBE_LETTERS, REUSE_PROBE_GRIDS, VISION_PROBE_TOKENS,
                                             probe_conversations, probe_pixels)
from awaker_eval.models.self_checks import Probe, SelfCheck
from awaker_eval.models.vision_attention import attention_difference
from awaker_eval.models.vision_reuse import VisionFeatureCache

ATTENTION_ACCELERATOR_TOLERANCE = {torch.float32: 1e-4, torch.float64: 1e-8}
ATTENTION_ACCELERATOR_TOLERANCE_LOW = 2e-2


def rounding_steps(magnitude: float, dtype: torch.dtype, steps: int) -> float:
    """``steps`` rounding steps of ``dtype`` at ``magnitude`` (the spacing of representable values there)."""
    if magnitude <= 0:
        return 0.0
    mantissa = {torch.bfloat16: 7, torch.float16: 10, torch.float32: 23}.get(dtype, 52)
    return steps * 2.0 ** (math.floor(math.log2(magnitude)) - mantissa)


def _check(model, name: str, probe, fall_back, adopt=None) -> SelfCheck:
    return SelfCheck(name=name, device=str(model.device), dtype=str(model.dtype).replace("torch.", ""), probe=probe,
                     fall_back=fall_back, adopt=adopt)


def vision_attention_check(model) -> SelfCheck | None:
    """Block 0 of the tower, batched vs stock, two segments of a realistic length at the tower's real head dims."""
    state = model.vision_attention
    if not (state.batches and state.enabled and state.probe_block is not None):
        return None
    attn, dtype = state.probe_block, state.probe_block.qkv.weight.dtype

    def probe() -> Probe:
        diff, scale = attention_difference(attn, state.stock_forward, 2, VISION_PROBE_TOKENS)
        on_cpu = attn.qkv.weight.device.type == "cpu"
        relative = ATTENTION_ACCELERATOR_TOLERANCE.get(dtype, ATTENTION_ACCELERATOR_TOLERANCE_LOW)
        tolerance = 0.0 if on_cpu else relative * scale
        return Probe(diff, tolerance, shapes={"segments": 2, "tokens": VISION_PROBE_TOKENS,
                                              "heads": attn.num_heads, "head_dim": attn.qkv.weight.shape[1] // attn.num_heads})

    def fall_back() -> str:
        state.enabled = False
        return "transformers' vision attention (one call per segment per block)"

    return _check(model, "vision_attention_batched", probe, fall_back)


def vision_reuse_check(model) -> SelfCheck:
    """Features through the installed per-image encoder with reuse on (two cache hits) vs a fresh stock encode."""
    visual = model.hf_model.model.visual

    def probe() -> Probe:
        images = [probe_pixels(visual, grid, seed) for seed, grid in enumerate(REUSE_PROBE_GRIDS)]
        order = [0, 1, 0, 2, 1]  # occurrences: images 0 and 1 come back from the cache
        pixels = torch.cat([images[i][0] for i in order])
        grid = torch.cat([images[i][1] for i in order])
        cache = VisionFeatureCache(reuse=True)
        with model.probe_vision_cache(cache, [f"probe-{i}" for i in order]):
            got = model.hf_model.model.get_image_features(pixels, grid).pooler_output
        fresh = [model.encode_image_alone(*images[i]) for i in order]
        diff = max(float((g.float() - f.float()).abs().max()) for g, f in zip(got, fresh))
        exact = [] if (cache.counts.encoded, cache.counts.reused) == (3, 2) else [
            f"cache encoded {cache.counts.encoded} / reused {cache.counts.reused} of 3 images / 2 repeats"]
        return Probe(diff, 0.0, shapes={"grids": [list(g) for g in REUSE_PROBE_GRIDS], "occurrences": order},
                     exact=exact)

    def fall_back() -> str:
        model.vision_reuse_veto = "the run-start self-check failed"
        model.set_vision_reuse(False)
        return "every image occurrence encoded (runner.reuse_vision off)"

    return _check(model, "vision_reuse", probe, fall_back)


@contextlib.contextmanager
def _padding(model, key: str, value: str) -> Iterator[None]:
    saved = model.cfg
    model.cfg = dataclasses.replace(saved, **{key: value})
    try:
        yield
    finally:
        model.cfg = saved


def _letters_probe(model, left: list, right: list) -> Probe:
    """Letters / routing of the right-padded choice path against the left-padded one."""
    diffs = [abs(a.choice_logprobs[k] - b.choice_logprobs[k]) for a, b in zip(left, right) for k in a.choice_logprobs]
    magnitude = max(abs(v) for o in left for v in o.choice_logprobs.values())
    tolerance = 1e-3 if model.dtype == torch.float32 else rounding_steps(magnitude, model.dtype, 4)
    exact = []
    for row, (a, b) in enumerate(zip(left, right)):
        top = sorted(a.choice_logprobs.values(), reverse=True)
        if a.text != b.text and top[0] - top[1] > tolerance:
            exact.append(f"row {row} letter {b.text} != {a.text}")
        if a.routing != b.routing:
            exact.append(f"row {row} routing")
    return Probe(max(diffs), tolerance, shapes={"rows": len(left), "letters": len(PROBE_LETTERS)}, exact=exact)


def choice_padding_check(model) -> SelfCheck | None:
    if model.cfg.choice_padding != "right":
        return None

    def probe() -> Probe:
        prepared = model.prepare(probe_conversations())
        letters = [PROBE_LETTERS] * len(prepared["input_ids"])
        right = model.score_choices(prepared, letters)
        with _padding(model, "choice_padding", "left"):
            left = model.score_choices(prepared, letters)
        return _letters_probe(model, left, right)

    def fall_back() -> str:
        model.cfg = dataclasses.replace(model.cfg, choice_padding="left")
        return "model.choice_padding=left (left-padded prefill with a 4D mask)"

    return _check(model, "choice_right_padding", probe, fall_back)


def generate_padding_check(model, generation: GenerationSettings) -> SelfCheck | None:
    if model.cfg.generate_padding != "right":
        return None
    settings = dataclasses.replace(generation, max_new_tokens=min(4, generation.max_new_tokens))

    def probe() -> Probe:
        prepared = model.prepare(probe_conversations())
        right = model.generate(prepared, settings)
        with _padding(model, "generate_padding", "left"):
            left = model.generate(prepared, settings)
        exact = [f"row {i} {what}" for i, (a, b) in enumerate(zip(left, right))
                 for what, same in (("text", a.text == b.text), ("routing", a.routing == b.routing)) if not same]
        return Probe(0.0, 0.0, shapes={"rows": len(left), "new_tokens": settings.max_new_tokens}, exact=exact)

    def fall_back() -> str:
        model.cfg = dataclasses.replace(model.cfg, generate_padding="left")
        return "model.generate_padding=left (HF generate on the left-padded batch)"

    return _check(model, "generate_right_padding", probe, fall_back)


def vision_checks(model, reuse_vision: bool) -> Iterator[SelfCheck]:
    """The vision tower's component checks (batched attention, and reuse when the run asks for it)."""
    for check in (vision_attention_check(model), vision_reuse_check(model) if reuse_vision else None):
        if check is not None:
            yield check


def padding_checks(model, mode: str, generation: GenerationSettings) -> Iterator[SelfCheck]:
    """The whole-model padding path of this run's mode (after the component checks: it runs them all)."""
    check = choice_padding_check(model) if mode == "choice" else generate_padding_check(model, generation)
    if check is not None:
        yield check
