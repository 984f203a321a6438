"""The published leaderboard tables (rows in ``benchmarks/*.csv``, declared by each benchmark's
``published_tables()``) and how their columns are printed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from awaker_eval.tasks.registry import BUILTIN, get_benchmark, registered

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


def published_tables() -> dict[str, TableSpec]:
    """Every registered benchmark's published tables, by key (each benchmark declares its own); built-in
    benchmarks first, in registration order."""
    kinds = [*BUILTIN, *(kind for kind in registered() if kind not in BUILTIN)]
    return {spec.key: spec for kind in kinds for spec in get_benchmark(kind).published_tables()}


def table_for(kind: str, language: str) -> TableSpec:
    """The README table a run of benchmark ``kind`` in ``language`` belongs to."""
    spec = get_benchmark(kind).published_table(language)
    if spec is None:
        raise ValueError(f"no published table for benchmark kind={kind!r} language={language!r}")
    return spec


def resolve_table(name: str) -> TableSpec:
    """A table by key or title, case-insensitive, '-' and '_' alike (``MMBench-CN`` = ``mmbench_cn``)."""
    norm = name.lower().replace("-", "_")
    tables = published_tables()
    for spec in tables.values():
        if norm in (spec.key, spec.title.lower().replace("-", "_")):
            return spec
    raise ValueError(f"unknown benchmark table {name!r}; choose one of {', '.join(tables)}")


def ours_only(name: str, kind: str, language: str) -> TableSpec:
    """The table of a benchmark that has no published rows: our runs alone, by Overall."""
    return TableSpec(name, name, "", kind, language, (Column("overall", "Overall", 1),))
