"""MME-RealWorld's published leaderboard tables (rows in ``benchmarks/mme_realworld*.csv``)."""

from __future__ import annotations

from awaker_eval.report.published import Column, TableSpec

_COLUMNS = (Column("overall", "Overall", 1), Column("perception", "Perception", 2),
            Column("reasoning", "Reasoning", 2))
TABLES = (
    TableSpec("mme_realworld", "MME-RealWorld", "mme_realworld.csv", "mme_realworld", "en", _COLUMNS),
    TableSpec("mme_realworld_cn", "MME-RealWorld-CN", "mme_realworld_cn.csv", "mme_realworld", "cn", _COLUMNS),
)
