"""``load_benchmark(bench, cfg)``: the one data entry point of the pipeline; asks the benchmark object (resolved
by the entry point from ``cfg.kind``) to load its layout (each benchmark maps its layouts to loader functions in
its folder under ``tasks/``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from awaker_eval.config.schema import BenchmarkConfig
from awaker_eval.data.errors import DataError
from awaker_eval.data.subsets import choose_units
from awaker_eval.data.warnings import DataWarnings, summary_lines
from awaker_eval.tasks.base import Benchmark
from awaker_eval.types import Sample

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedBenchmark:
    """The samples of one benchmark split and the upstream-accepted oddities met while loading them."""

    samples: list[Sample]
    warnings: DataWarnings


def load_benchmark(bench: Benchmark, cfg: BenchmarkConfig) -> LoadedBenchmark:
    """All samples of the configured benchmark split (``cfg.limit`` units when set, the ones ``cfg.subset``
    picks: ``data/subsets.py``), images undecoded, loaded by ``bench`` (the object of ``cfg.kind``), with the
    oddities upstream accepts counted by kind (a ``DataError`` for the first one under ``strict``)."""
    if bench.layouts and cfg.layout not in bench.layouts:
        valid = ", ".join(f"{bench.kind}/{layout}" for layout in bench.layouts)
        raise DataError(f"unknown benchmark kind/layout {cfg.kind!r}/{cfg.layout!r}; valid: {valid}")
    if cfg.language not in ("en", "cn"):
        raise DataError(f"benchmark.language must be 'en' or 'cn', got {cfg.language!r}")
    warnings = DataWarnings(strict=cfg.strict)
    samples = choose_units(bench.load(cfg, warnings), cfg.limit, cfg.subset, cfg.subset_seed)
    if cfg.limit is not None:
        warnings = warnings.restricted({s.id for s in samples} | {s.group for s in samples if s.group})
    for line in summary_lines(warnings.as_dict()):
        log.warning("%s", line)
    return LoadedBenchmark(samples, warnings)


def load_samples(bench: Benchmark, cfg: BenchmarkConfig) -> list[Sample]:
    """``load_benchmark(bench, cfg).samples``."""
    return load_benchmark(bench, cfg).samples
