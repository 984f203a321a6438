"""Prompt protocols: the benchmark object's prompt construction for a run, and the fingerprints that record it.

Each benchmark's protocols, aliases and template text live in its folder under ``awaker_eval/tasks/``.
A protocol name is per benchmark kind; aliases resolve to one canonical name so equal prompts always
get equal fingerprints (MME-RealWorld ``vlmevalkit`` = ``official``; MMBench ``official`` = the
VLMEvalKit Qwen2-VL prompt, the official toolkit's choice for Qwen2-VL-based models).
"""

from __future__ import annotations

import hashlib
import json

from awaker_eval.config.schema import BenchmarkConfig
from awaker_eval.tasks.base import BenchmarkError
from awaker_eval.tasks.registry import get_benchmark
from awaker_eval.types import Sample


class PromptError(ValueError):
    """Unknown protocol, kind or language."""


PROMPT_FORMAT_VERSION = 1  # bump when construction logic (not template text) changes


def protocols(kind: str) -> list[str]:
    """Valid protocol names (canonical and aliases) for a benchmark kind."""
    return _benchmark(kind).protocol_names()


def _benchmark(kind: str):
    try:
        return get_benchmark(kind)
    except BenchmarkError as exc:
        raise PromptError(str(exc)) from exc


def config_protocol(kind: str, protocol: str) -> str:
    """The one name a config records for ``protocol``: ``official`` for every spelling of the official prompts
    (MME-RealWorld ``vlmevalkit``; MMBench ``vlmevalkit_qwen2vl``), else the canonical name. Applied once at
    config time, so aliases share run id, fingerprints and leaderboard notes."""
    try:
        return _benchmark(kind).config_protocol(protocol)
    except BenchmarkError as exc:
        raise PromptError(str(exc)) from exc


def canonical_protocol(kind: str, protocol: str) -> str:
    """The canonical protocol name; a clear error listing the valid ones otherwise."""
    try:
        return _benchmark(kind).canonical_protocol(protocol)
    except BenchmarkError as exc:
        raise PromptError(str(exc)) from exc


def build_prompt(sample: Sample, protocol: str, kind: str | None = None) -> str:
    """The exact prompt text for ``sample`` under ``protocol`` (language taken from the sample).

    ``kind`` is the run's ``benchmark.kind``; without it, the kind the loader recorded in ``sample.extra``."""
    if sample.language not in ("en", "cn"):
        raise PromptError(f"sample {sample.id!r}: language must be 'en' or 'cn', got {sample.language!r}")
    kind = kind or sample.extra.get("kind")
    if not kind:
        raise PromptError(f"sample {sample.id!r}: no benchmark kind (pass the run's benchmark.kind)")
    try:
        return _benchmark(kind).build_prompt(sample, protocol)
    except BenchmarkError as exc:
        raise PromptError(str(exc)) from exc


def _digest(payload: object) -> str:
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def protocol_fingerprint(cfg: BenchmarkConfig) -> str:
    """Hash of everything that shapes the model's input and output length (not the answer extractor):
    kind, canonical protocol and its template text, language, min/max pixels, max_new_tokens."""
    protocol = canonical_protocol(cfg.kind, cfg.protocol)
    return _digest({
        "kind": cfg.kind,
        "protocol": protocol,
        "templates": _benchmark(cfg.kind).template_text(protocol),
        "format_version": PROMPT_FORMAT_VERSION,
        "language": cfg.language,
        "min_pixels": cfg.min_pixels,
        "max_pixels": cfg.max_pixels,
        "max_new_tokens": cfg.max_new_tokens,
    })


def prompt_hash(text: str, sample: Sample) -> str:
    """Hash of the prompt text and the identity of the images it is shown with."""
    return _digest({"text": text, "images": [ref.key for ref in sample.images]})
