"""Benchmarks as objects: one folder per benchmark (its loader, prompts, extractors, scorer), one contract
(``awaker_eval.tasks.base.Benchmark``) and one registry (``awaker_eval.tasks.registry``).

Importing this package loads the contract and its default scorer (pandas, no torch); ``get_benchmark(kind)``
imports a benchmark's folder and builds the object on first use.
"""

from awaker_eval.tasks.base import Benchmark, BenchmarkError, Level
from awaker_eval.tasks.registry import get_benchmark, registered

__all__ = ["Benchmark", "BenchmarkError", "Level", "get_benchmark", "registered"]
