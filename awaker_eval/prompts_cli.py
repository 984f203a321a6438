"""``awaker-eval prompts [hydra overrides]``: what the model would be sent, without loading a model.

Composes the same config as a run (``conf/`` + overrides), loads the benchmark's samples and builds every
sample's prompt and chat messages with the run's own code, then prints one JSON line per sample::

    {"id": "...", "index": 12, "messages": [{"role": "user", "content": [
        {"type": "image", "image": "<image key>", "min_pixels": ..., "max_pixels": ...},
        {"type": "text", "text": "..."}]}]}

Image parts carry the image key (no pixels are decoded). Example:
``awaker-eval prompts benchmark=mmstar benchmark.source=MMStar.tsv benchmark.protocol=vlmevalkit_default``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from awaker_eval.config.schema import BenchmarkConfig, RunConfig
from awaker_eval.data.errors import DataError
from awaker_eval.data.registry import load_samples
from awaker_eval.models.base import Messages
from awaker_eval.overrides import compose_run_config as compose_checked
from awaker_eval.preflight import ConfigError, check_benchmark
from awaker_eval.prompts.messages import to_messages
from awaker_eval.redact import redact_text
from awaker_eval.sample_io import SampleEncoder
from awaker_eval.tasks.base import BenchmarkError
from awaker_eval.types import Sample

USAGE = "usage: awaker-eval prompts [hydra overrides], e.g. benchmark=mmstar benchmark.source=MMStar.tsv"


def compose_run_config(overrides: list[str]) -> RunConfig:
    """The typed config a run with these overrides would get (Hydra's compose API: no run directory, no logs),
    checked like a run's command line."""
    return compose_checked(overrides, "prompts")


def sample_messages(sample: Sample, text: str, cfg: BenchmarkConfig) -> Messages:
    """The run's chat layout, with the image key standing in for the decoded image."""
    key = sample.images[0].key if sample.images else None
    return to_messages(sample, text, cfg.min_pixels, cfg.max_pixels, image=key)


def prompt_records(cfg: BenchmarkConfig) -> Iterator[dict[str, Any]]:
    """One record per sample, in the benchmark's order."""
    bench = check_benchmark(cfg)  # the benchmark object, resolved once
    encode = SampleEncoder(bench, cfg.protocol, cfg.min_pixels, cfg.max_pixels)  # the run's encoder
    for sample in load_samples(bench, cfg):
        text = encode.prompt_text(sample)
        yield {"id": sample.id, "index": sample.extra.get("index"), "messages": sample_messages(sample, text, cfg)}


def main(argv: list[str]) -> int:
    if any(arg in ("-h", "--help") for arg in argv):
        print(USAGE + "\n\n" + __doc__.strip())
        return 0
    try:
        cfg = compose_run_config(list(argv))
        for record in prompt_records(cfg.benchmark):
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
    except (HydraException, OmegaConfBaseException, ConfigError, BenchmarkError, DataError) as exc:
        first = redact_text(" ".join(str(exc).split())) or type(exc).__name__
        print(f"awaker-eval prompts: error: {first}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `| head`: the reader has what it wanted
        return 0
    return 0
