"""What makes two runs different, in words a reader understands (not just two fingerprint hashes).

Reads the saved configs (``config.yaml`` of each run: benchmark, model, runner sections) and names every setting
that changes predictions: inference mode, prompt protocol, answer extractor, resolution, decoding, and the model
(checkpoint, adapter, dtype).
"""

from __future__ import annotations

from typing import Any

MODE_WORDS = {"generate": "greedy generation", "choice": "scoring each option's likelihood"}
BENCHMARK_SETTINGS = (("protocol", "prompt protocol"), ("extractor", "answer extractor"),
                      ("max_new_tokens", "generation length (max_new_tokens)"), ("limit", "item limit"),
                      ("subset", "subset choice (benchmark.subset)"), ("subset_seed", "subset draw (subset_seed)"))
# Settings added later: a config saved before them holds none, which means this value.
BENCHMARK_DEFAULTS = {"subset": "first", "subset_seed": 0}
MODEL_SETTINGS = (("kind", "model backend"), ("path", "model weights (model.path)"),
                  ("checkpoint", "Awaker checkpoint"), ("adapter", "PEFT adapter"),
                  ("adapter_revision", "adapter revision"), ("dtype", "dtype"), ("routing_mode", "routing mode"))


def _get(meta: dict[str, Any], section: str, key: str) -> Any:
    return ((meta or {}).get(section) or {}).get(key)


def _pixels(meta: dict[str, Any]) -> str:
    lo, hi = _get(meta, "benchmark", "min_pixels"), _get(meta, "benchmark", "max_pixels")
    return "the processor's default" if lo is None and hi is None else f"{lo or 'default'}..{hi or 'default'} px"


def describe_difference(a_meta: dict[str, Any], b_meta: dict[str, Any]) -> list[str]:
    """One sentence per differing setting of run A (base) and run B (new); empty when none differs."""
    out = []
    mode_a, mode_b = _get(a_meta, "runner", "mode") or "generate", _get(b_meta, "runner", "mode") or "generate"
    if mode_a != mode_b:
        out.append(f"inference mode differs: base uses {MODE_WORDS.get(mode_a, mode_a)} ({mode_a}), new uses "
                   f"{MODE_WORDS.get(mode_b, mode_b)} ({mode_b})")
    for key, words in BENCHMARK_SETTINGS:
        a, b = (_get(meta, "benchmark", key) for meta in (a_meta, b_meta))
        a, b = (BENCHMARK_DEFAULTS.get(key) if v is None else v for v in (a, b))
        if a != b:
            out.append(f"{words} differs: base {a!r}, new {b!r}")
    if _pixels(a_meta) != _pixels(b_meta):
        out.append(f"image resolution differs: base {_pixels(a_meta)}, new {_pixels(b_meta)}")
    for key, words in MODEL_SETTINGS:
        a, b = _get(a_meta, "model", key), _get(b_meta, "model", key)
        if a != b:
            out.append(f"{words} differs: base {a!r}, new {b!r}")
    return out
