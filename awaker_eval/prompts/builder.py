"""Prompt protocols: the benchmark object's prompt construction for a run, and the fingerprints that record it.

Every function takes the ``Benchmark`` object the entry point resolved (never a kind to look up).

Each benchmark's protocols, aliases and template text live in its folder under ``awaker_eval/tasks/``.
A protocol name is per benchmark kind; aliases resolve to one canonical name so equal prompts always
get equal fingerprints (MME-RealWorld ``vlmevalkit`` = ``official``; MMBench ``official`` = the
VLMEvalKit Qwen2-VL prompt, the official toolkit's choice for Qwen2-VL-based models).
"""

from __future__ import annotations

import hashlib
import json

from awaker_eval.config.schema import BenchmarkConfig
from awaker_eval.tasks.base import Benchmark, BenchmarkError
from awaker_eval.types import Sample


class PromptError(ValueError):
    """Unknown protocol, kind or language."""


PROMPT_FORMAT_VERSION = 1  # bump when construction logic (not template text) changes


def protocols(bench: Benchmark) -> list[str]:
    """Valid protocol names (canonical and aliases) of a benchmark."""
    return bench.protocol_names()


def config_protocol(bench: Benchmark, protocol: str) -> str:
    """The one name a config records for ``protocol``: ``official`` for every spelling of the official prompts
    (MME-RealWorld ``vlmevalkit``; MMBench ``vlmevalkit_qwen2vl``), else the canonical name. Applied once at
    config time, so aliases share run id, fingerprints and leaderboard notes."""
    try:
        return bench.config_protocol(protocol)
    except BenchmarkError as exc:
        raise PromptError(str(exc)) from exc


def canonical_protocol(bench: Benchmark, protocol: str) -> str:
    """The canonical protocol name; a clear error listing the valid ones otherwise."""
    try:
        return bench.canonical_protocol(protocol)
    except BenchmarkError as exc:
        raise PromptError(str(exc)) from exc


def build_prompt(sample: Sample, protocol: str, bench: Benchmark) -> str:
    """The exact prompt text for ``sample`` under ``protocol`` of the run's benchmark (language taken from the
    sample)."""
    if sample.language not in ("en", "cn"):
        raise PromptError(f"sample {sample.id!r}: language must be 'en' or 'cn', got {sample.language!r}")
    try:
        return bench.build_prompt(sample, protocol)
    except BenchmarkError as exc:
        raise PromptError(str(exc)) from exc


def _digest(payload: object) -> str:
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def protocol_fingerprint(cfg: BenchmarkConfig, bench: Benchmark) -> str:
    """Hash of everything that shapes the model's input and output length (not the answer extractor):
    kind, canonical protocol and its template text, language, min/max pixels, max_new_tokens. ``bench`` is the
    benchmark object of ``cfg.kind``, resolved by the caller."""
    protocol = canonical_protocol(bench, cfg.protocol)
    return _digest({
        "kind": cfg.kind,
        "protocol": protocol,
        "templates": bench.template_text(protocol),
        "format_version": PROMPT_FORMAT_VERSION,
        "language": cfg.language,
        "min_pixels": cfg.min_pixels,
        "max_pixels": cfg.max_pixels,
        "max_new_tokens": cfg.max_new_tokens,
    })


def prompt_hash(text: str, sample: Sample) -> str:
    """Hash of the prompt text and the identity of the images it is shown with."""
    return _digest({"text": text, "images": [ref.key for ref in sample.images]})
