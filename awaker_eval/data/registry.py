"""``load_samples(cfg)``: the one data entry point of the pipeline; asks the benchmark object of ``cfg.kind``
to load its layout (each benchmark maps its layouts to loader functions in its folder under ``tasks/``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from awaker_eval.config.schema import BenchmarkConfig
from awaker_eval.data.errors import DataError
from awaker_eval.data.warnings import DataWarnings, summary_lines
from awaker_eval.tasks.base import BenchmarkError
from awaker_eval.tasks.registry import get_benchmark, registered
from awaker_eval.types import Sample

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedBenchmark:
    """The samples of one benchmark split and the upstream-accepted oddities met while loading them."""

    samples: list[Sample]
    warnings: DataWarnings


def load_benchmark(cfg: BenchmarkConfig) -> LoadedBenchmark:
    """All samples of the configured benchmark split (first ``cfg.limit`` units when set), images undecoded,
    loaded by the benchmark object of ``cfg.kind``, with the oddities upstream accepts counted by kind (a
    ``DataError`` for the first one under ``strict``)."""
    try:
        bench = get_benchmark(cfg.kind)
    except BenchmarkError as exc:
        raise DataError(str(exc)) from exc
    if bench.layouts and cfg.layout not in bench.layouts:
        valid = ", ".join(f"{k}/{layout}" for k in registered() for layout in get_benchmark(k).layouts)
        raise DataError(f"unknown benchmark kind/layout {cfg.kind!r}/{cfg.layout!r}; valid: {valid}")
    if cfg.language not in ("en", "cn"):
        raise DataError(f"benchmark.language must be 'en' or 'cn', got {cfg.language!r}")
    warnings = DataWarnings(strict=cfg.strict)
    samples = limited(bench.load(cfg, warnings), cfg.limit)
    if cfg.limit is not None:
        warnings = warnings.restricted({s.id for s in samples} | {s.group for s in samples if s.group})
    for line in summary_lines(warnings.as_dict()):
        log.warning("%s", line)
    return LoadedBenchmark(samples, warnings)


def load_samples(cfg: BenchmarkConfig) -> list[Sample]:
    """``load_benchmark(cfg).samples``."""
    return load_benchmark(cfg).samples


def limited(samples: list[Sample], limit: int | None) -> list[Sample]:
    """The first ``limit`` scoring units (``Sample.group``): for MMBench whole questions (every circular pass
    of the first ``limit`` groups), so that a smoke run's CircularEval never scores a question on a subset of
    passes; one item each where every sample is its own group."""
    if limit is None:
        return samples
    keep = set(list(dict.fromkeys(s.group for s in samples))[:limit])
    return [s for s in samples if s.group in keep]
