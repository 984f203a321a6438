"""The published leaderboard tables (rows in ``benchmarks/*.csv``, declared by each benchmark's
``published_tables()``) and how their columns are printed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pandas as pd

from awaker_eval.tasks.base import Benchmark

BENCHMARKS_DIR = Path(__file__).resolve().parents[2] / "benchmarks"


@dataclass(frozen=True)
class Column:
    key: str  # CSV column
    header: str  # README header
    decimals: int


@dataclass(frozen=True)
class TableSpec:
    """One README table: its CSV, title, score columns, and which benchmark runs belong in it."""

    key: str
    title: str
    csv: str
    kind: str
    language: str
    columns: tuple[Column, ...]

    @property
    def published(self) -> bool:
        """False for the table of a benchmark without published rows (our runs alone)."""
        return bool(self.csv)

    def load(self) -> pd.DataFrame:
        """Published rows in README order; empty score cells (README ``-``) are NaN."""
        if not self.published:
            return pd.DataFrame(columns=["model", "parameters", "institution", *[c.key for c in self.columns]])
        path = BENCHMARKS_DIR / self.csv
        try:
            table = pd.read_csv(path, dtype={"model": str, "parameters": str, "institution": str})
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"published table {path} is missing (benchmarks/ beside the package)") from exc
        return table


def published_tables(benchmarks: Iterable[Benchmark]) -> dict[str, TableSpec]:
    """The published tables of ``benchmarks``, by key (each benchmark declares its own), in their order (the
    entry passes ``tasks.registry.in_registration_order()``: built-in benchmarks first)."""
    return {spec.key: spec for bench in benchmarks for spec in bench.published_tables()}


def table_for(bench: Benchmark, language: str) -> TableSpec:
    """The README table a run of benchmark ``bench`` in ``language`` belongs to."""
    spec = bench.published_table(language)
    if spec is None:
        raise ValueError(f"no published table for benchmark kind={bench.kind!r} language={language!r}")
    return spec


def resolve_table(name: str, tables: dict[str, TableSpec]) -> TableSpec:
    """A table by key or title, case-insensitive, '-' and '_' alike (``MMBench-CN`` = ``mmbench_cn``)."""
    norm = name.lower().replace("-", "_")
    for spec in tables.values():
        if norm in (spec.key, spec.title.lower().replace("-", "_")):
            return spec
    raise ValueError(f"unknown benchmark table {name!r}; choose one of {', '.join(tables)}")


def ours_only(name: str, kind: str, language: str) -> TableSpec:
    """The table of a benchmark that has no published rows: our runs alone, by Overall."""
    return TableSpec(name, name, "", kind, language, (Column("overall", "Overall", 1),))
