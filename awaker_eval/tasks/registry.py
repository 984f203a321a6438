"""Where benchmarks are registered: the built-in ones in ``BUILTIN`` (the one place to add a folder of
``awaker_eval/tasks/``), third-party ones through the ``awaker_eval.benchmarks`` entry-point group::

    [project.entry-points."awaker_eval.benchmarks"]
    toy = "my_package.toy:ToyBenchmark"     # a Benchmark subclass (or instance); its ``kind`` must be "toy"

Objects are built on first use (importing a benchmark imports its stage modules, never at package import).
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from awaker_eval.tasks.base import Benchmark, BenchmarkError

ENTRY_POINT_GROUP = "awaker_eval.benchmarks"
BUILTIN: dict[str, str] = {
    "mme_realworld": "awaker_eval.tasks.mme_realworld:MMERealWorld",
    "mmbench": "awaker_eval.tasks.mmbench:MMBench",
    "mcq": "awaker_eval.tasks.mcq:MCQBenchmark",
}
_CACHE: dict[str, Benchmark] = {}


def _plugins() -> dict[str, object]:
    """Entry points of installed packages, by name (a built-in name cannot be taken over)."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name not in BUILTIN}


def registered() -> list[str]:
    """Every benchmark kind that can be asked for: built-in and installed plugins."""
    return sorted({*BUILTIN, *_plugins()})


def _instantiate(kind: str, obj: object) -> Benchmark:
    bench = obj() if isinstance(obj, type) else obj
    if not isinstance(bench, Benchmark):
        raise BenchmarkError(f"benchmark {kind!r} is {obj!r}, not an awaker_eval.tasks.base.Benchmark")
    if bench.kind != kind:
        raise BenchmarkError(f"benchmark registered as {kind!r} declares kind {bench.kind!r}")
    return bench


def get_benchmark(kind: str) -> Benchmark:
    """The benchmark object of ``kind``; an unknown name lists the registered ones."""
    if kind in _CACHE:
        return _CACHE[kind]
    if kind in BUILTIN:
        module, _, attr = BUILTIN[kind].partition(":")
        obj = getattr(importlib.import_module(module), attr)
    else:
        plugin = _plugins().get(kind)
        if plugin is None:
            raise BenchmarkError(f"unknown benchmark kind {kind!r}; registered: {', '.join(registered())}")
        try:
            obj = plugin.load()
        except (ImportError, AttributeError) as exc:
            raise BenchmarkError(f"benchmark plugin {kind!r} ({plugin.value}) cannot be loaded: {exc}") from exc
    _CACHE[kind] = bench = _instantiate(kind, obj)
    return bench


def catalogue() -> dict[str, Benchmark]:
    """Every registered benchmark, by kind: what an entry point resolves once and hands to the stages that
    read run directories (the run's own kind) or check a benchmark name (every kind's marks)."""
    return {kind: get_benchmark(kind) for kind in registered()}


def in_registration_order() -> list[Benchmark]:
    """Every registered benchmark, built-in ones first in ``BUILTIN`` order, then installed plugins by name (the
    order of the published tables)."""
    return [get_benchmark(kind) for kind in [*BUILTIN, *(kind for kind in registered() if kind not in BUILTIN)]]


def clear_cache() -> None:
    """Forget built objects (tests that swap entry points)."""
    _CACHE.clear()


def score_targets() -> dict[str, tuple[str, str]]:
    """``awaker-eval score --benchmark NAME`` -> (kind, language), over every registered benchmark."""
    out: dict[str, tuple[str, str]] = {}
    for kind in registered():
        for name, language in get_benchmark(kind).names().items():
            out.setdefault(name, (kind, language))
    return out
