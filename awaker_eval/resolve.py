"""Names -> objects, once, at an entry point: the benchmark object of a ``BenchmarkConfig`` and its samples.

The run (``pipeline``), the commands and the Python API call these; the stages below them receive the object
(``docs/architecture.md``). An unknown kind is a ``DataError`` naming the registered ones.
"""

from __future__ import annotations

from awaker_eval.config.schema import BenchmarkConfig
from awaker_eval.data import registry
from awaker_eval.data.errors import DataError
from awaker_eval.tasks.base import Benchmark, BenchmarkError
from awaker_eval.tasks.registry import get_benchmark
from awaker_eval.types import Sample


def benchmark_of(cfg: BenchmarkConfig) -> Benchmark:
    """The registered benchmark object of ``cfg.kind``."""
    try:
        return get_benchmark(cfg.kind)
    except BenchmarkError as exc:
        raise DataError(str(exc)) from exc


def load_benchmark(cfg: BenchmarkConfig) -> registry.LoadedBenchmark:
    """The configured split's samples and data warnings, loaded by the benchmark object of ``cfg.kind``."""
    return registry.load_benchmark(benchmark_of(cfg), cfg)


def load_samples(cfg: BenchmarkConfig) -> list[Sample]:
    """``load_benchmark(cfg).samples``."""
    return load_benchmark(cfg).samples
