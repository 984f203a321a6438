"""MMBench's published leaderboard tables (rows in ``benchmarks/mmbench*.csv``)."""

from __future__ import annotations

from awaker_eval.report.published import Column, TableSpec

_COLUMNS = (Column("overall", "Overall", 1), Column("v1_1", "MMBench_v1.1", 1), Column("v1_0", "MMBench", 1))
TABLES = (
    TableSpec("mmbench", "MMBench", "mmbench.csv", "mmbench", "en", _COLUMNS),
    TableSpec("mmbench_cn", "MMBench-CN", "mmbench_cn.csv", "mmbench", "cn", _COLUMNS),
)
