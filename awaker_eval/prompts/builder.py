"""Protocol registry: which prompt construction a benchmark run uses, and the fingerprints that record it.

A protocol name is per benchmark kind; aliases resolve to one canonical name so equal prompts always
get equal fingerprints (MME-RealWorld ``vlmevalkit`` = ``official``; MMBench ``official`` = the
VLMEvalKit Qwen2-VL prompt, the official toolkit's choice for Qwen2-VL-based models).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from awaker_eval.config.schema import BenchmarkConfig
from awaker_eval.prompts import mmbench, mme_realworld
from awaker_eval.prompts import templates as T
from awaker_eval.types import Sample


class PromptError(ValueError):
    """Unknown protocol, kind or language."""


def _mme(protocol: str) -> Callable[[Sample], str]:
    return lambda sample: mme_realworld.build(sample, protocol)


BUILDERS: dict[str, dict[str, Callable[[Sample], str]]] = {
    "mme_realworld": {"official": _mme("official"), "lmms_eval": _mme("lmms_eval")},
    "mmbench": {
        "vlmevalkit_qwen2vl": mmbench.build_qwen2vl,
        "vlmevalkit_default": mmbench.build_default,
        "lmms_eval": mmbench.build_lmms_eval,
    },
}
ALIASES = {"mme_realworld": {"vlmevalkit": "official"}, "mmbench": {"official": "vlmevalkit_qwen2vl"}}
# The text each protocol is made of: part of the fingerprint, so editing a template changes it.
TEMPLATE_TEXT = {
    ("mme_realworld", "official"): (T.MME_OFFICIAL_EN, T.MME_OFFICIAL_CN),
    ("mme_realworld", "lmms_eval"): (T.MME_LMMS_EN, T.MME_LMMS_CN),
    ("mmbench", "vlmevalkit_qwen2vl"): ("Hint: ", "Question: ", "Options:\n", T.EN_SUFFIX, T.CN_SUFFIX, "rstrip"),
    ("mmbench", "vlmevalkit_default"): ("Hint: ", "Question: ", "Options:\n", T.DEFAULT_SUFFIX),
    ("mmbench", "lmms_eval"): (T.LMMS_OPTS_HEAD, T.LMMS_POST_EN, T.LMMS_POST_CN),
}
PROMPT_FORMAT_VERSION = 1  # bump when construction logic (not template text) changes


def protocols(kind: str) -> list[str]:
    """Valid protocol names (canonical and aliases) for a benchmark kind."""
    if kind not in BUILDERS:
        raise PromptError(f"unknown benchmark kind {kind!r}; valid: {sorted(BUILDERS)}")
    return sorted([*BUILDERS[kind], *ALIASES.get(kind, {})])


def config_protocol(kind: str, protocol: str) -> str:
    """The one name a config records for ``protocol``: ``official`` for every spelling of the official prompts
    (MME-RealWorld ``vlmevalkit``; MMBench ``vlmevalkit_qwen2vl``), else the canonical name. Applied once at
    config time, so aliases share run id, fingerprints and leaderboard notes."""
    name = canonical_protocol(kind, protocol)
    return "official" if name == canonical_protocol(kind, "official") else name


def canonical_protocol(kind: str, protocol: str) -> str:
    """The canonical protocol name; a clear error listing the valid ones otherwise."""
    name = ALIASES.get(kind, {}).get(protocol, protocol)
    if name not in BUILDERS.get(kind, {}):
        raise PromptError(f"unknown prompt protocol {protocol!r} for {kind}; valid: {', '.join(protocols(kind))}")
    return name


def sample_kind(sample: Sample) -> str:
    """The benchmark kind recorded by the loader (fallback: MME-RealWorld items carry a task)."""
    return sample.extra.get("kind") or ("mme_realworld" if sample.task else "mmbench")


def build_prompt(sample: Sample, protocol: str) -> str:
    """The exact prompt text for ``sample`` under ``protocol`` (language taken from the sample)."""
    if sample.language not in ("en", "cn"):
        raise PromptError(f"sample {sample.id!r}: language must be 'en' or 'cn', got {sample.language!r}")
    kind = sample_kind(sample)
    return BUILDERS[kind][canonical_protocol(kind, protocol)](sample)


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
        "templates": TEMPLATE_TEXT[(cfg.kind, protocol)],
        "format_version": PROMPT_FORMAT_VERSION,
        "language": cfg.language,
        "min_pixels": cfg.min_pixels,
        "max_pixels": cfg.max_pixels,
        "max_new_tokens": cfg.max_new_tokens,
    })


def prompt_hash(text: str, sample: Sample) -> str:
    """Hash of the prompt text and the identity of the images it is shown with."""
    return _digest({"text": text, "images": [ref.key for ref in sample.images]})
