"""The tiny Qwen2-VL and tiny Awaker in fp32 / bf16 on the CPU, built once per test session and shared by the
attention tests (``with_choice_padding`` switches the one setting those tests compare, without a rebuild)."""

from __future__ import annotations

import dataclasses
import functools

from awaker_eval.config.schema import ModelConfig
from awaker_eval.models.factory import build_model

KINDS = {"tiny": {"kind": "tiny"}, "awaker": {"kind": "awaker2_5_vl", "checkpoint": "tiny"}}


@functools.lru_cache(maxsize=None)
def tiny(which: str, dtype: str, cache_dir: str):
    return build_model(ModelConfig(name=which, dtype=dtype, device="cpu", cache_dir=cache_dir, **KINDS[which]))


def with_choice_padding(model, padding: str):
    """The same loaded model with ``model.choice_padding`` set (read at each score_choices call)."""
    model.cfg = dataclasses.replace(model.cfg, choice_padding=padding)
    return model
