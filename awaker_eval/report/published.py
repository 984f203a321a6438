"""The published leaderboard tables (``benchmarks/*.csv``) and how their columns are printed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

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


_MME = (Column("overall", "Overall", 1), Column("perception", "Perception", 2), Column("reasoning", "Reasoning", 2))
_MMB = (Column("overall", "Overall", 1), Column("v1_1", "MMBench_v1.1", 1), Column("v1_0", "MMBench", 1))

TABLES: dict[str, TableSpec] = {
    t.key: t
    for t in (
        TableSpec("mme_realworld", "MME-RealWorld", "mme_realworld.csv", "mme_realworld", "en", _MME),
        TableSpec("mme_realworld_cn", "MME-RealWorld-CN", "mme_realworld_cn.csv", "mme_realworld", "cn", _MME),
        TableSpec("mmbench", "MMBench", "mmbench.csv", "mmbench", "en", _MMB),
        TableSpec("mmbench_cn", "MMBench-CN", "mmbench_cn.csv", "mmbench", "cn", _MMB),
    )
}


def table_for(kind: str, language: str) -> TableSpec:
    """The README table a run of benchmark ``kind`` in ``language`` belongs to."""
    for spec in TABLES.values():
        if spec.kind == kind and spec.language == language:
            return spec
    raise ValueError(f"no published table for benchmark kind={kind!r} language={language!r}")


def resolve_table(name: str) -> TableSpec:
    """A table by key or title, case-insensitive, '-' and '_' alike (``MMBench-CN`` = ``mmbench_cn``)."""
    norm = name.lower().replace("-", "_")
    for spec in TABLES.values():
        if norm in (spec.key, spec.title.lower().replace("-", "_")):
            return spec
    raise ValueError(f"unknown benchmark table {name!r}; choose one of {', '.join(TABLES)}")


def ours_only(name: str, kind: str, language: str) -> TableSpec:
    """The table of a benchmark that has no published rows: our runs alone, by Overall."""
    return TableSpec(name, name, "", kind, language, (Column("overall", "Overall", 1),))
