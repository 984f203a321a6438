"""A paired comparison of two runs as one object: what ``awaker-eval compare`` prints and what the Python API
(``awaker_eval.compare``) returns, computed by one function so the two can never disagree.

``benchmarks`` (``tasks.registry.catalogue()``) is resolved once by the entry point and handed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import pandas as pd

from awaker_eval.report.compare import (GATE_LEVELS, GateResult, common_units, compare_table, flipped_units, gate,
                                        verdict_line)
from awaker_eval.report.runs import Run, find_runs
from awaker_eval.run_validity import INVALID_KEY, invalid_line


@dataclass(frozen=True)
class Comparison:
    """Two runs compared: ``table`` has one row per aggregate (level, group, n, base, new, diff, lo, hi as
    fractions, p_mcnemar, broken, fixed, detectable), ``flips`` every unit whose correctness changed."""

    base: Run
    new: Run
    units_matched: int
    table: pd.DataFrame
    flips: pd.DataFrame
    result: GateResult
    verdict_line: str

    @property
    def verdict(self) -> str:
        """``PASSED``, ``FAILED`` or ``INCONCLUSIVE`` (the CI gate's exit 0, 1 or 3)."""
        return self.result.verdict

    @property
    def exit_status(self) -> int:
        """What ``awaker-eval compare`` exits with for this verdict: 0, 1 or 3."""
        return self.result.exit_status

    @property
    def gate_status(self) -> pd.Series:
        """Per row of ``table``: ``FAIL``, ``inconclusive`` (too few units to see a drop of max_drop) or ``ok``."""
        failed, blind = self.result.failed.index, self.result.blind.index
        return pd.Series(["FAIL" if i in failed else "inconclusive" if i in blind else "ok" for i in self.table.index],
                         index=self.table.index, name="gate")


def usable_run(run: Run, verb: str = "compare", gerund: str = "comparing") -> Run:
    """A run whose numbers the gate (or ``explain``, ``curve``: ``verb``) may use: scored, and not marked invalid."""
    if not run.scored:
        raise ValueError(f"{run.path}: has no score (hidden answers, e.g. MMBench TEST): nothing to {verb}")
    if run.scores.get(INVALID_KEY):  # numbers that do not stand would pass or fail a gate on failures
        raise ValueError(f"{run.path}: {invalid_line(run.scores[INVALID_KEY])}; rerun it before {gerund}")
    return run


def resolve_pair(base: str, new: str | None, benchmarks: Mapping) -> tuple[Run, Run]:
    """The two runs: two run directories, or (``new`` None) one sweep holding exactly two runs (job 0 = base);
    each scored, with numbers that stand."""
    if new is None:
        runs = find_runs([base], benchmarks)
        if len(runs) != 2:
            raise ValueError(f"{base}: expected a sweep with exactly 2 runs, found {len(runs)}")
    else:
        runs = []
        for path in (base, new):
            found = find_runs([path], benchmarks)
            if len(found) != 1:
                raise ValueError(f"{path}: holds {len(found)} runs; name one run directory")
            runs.append(found[0])
    return usable_run(runs[0]), usable_run(runs[1])


def compare_runs(base: Run, new: Run, max_drop: float = 1.0, alpha: float = 0.05, gate_level: str = "split",
                 n_boot: int = 1000, seed: int = 0, allow_mismatch: bool = False) -> Comparison:
    """The paired comparison and the gate's verdict (options checked by ``report.options.check_options``)."""
    if gate_level not in GATE_LEVELS:
        raise ValueError(f"gate level {gate_level!r} is unknown: use one of {', '.join(sorted(GATE_LEVELS))}")
    merged = common_units(base, new, allow_mismatch=allow_mismatch)
    table = compare_table(merged, base.bench, n_boot=n_boot, seed=seed, alpha=alpha)
    result = gate(table, max_drop, alpha, gate_level)
    return Comparison(base, new, len(merged), table, flipped_units(merged), result,
                      verdict_line(result, max_drop, alpha, gate_level))
