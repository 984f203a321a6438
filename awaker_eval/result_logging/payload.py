"""What a finished run sends to a results logger, read back from its run directory and redacted.

Why from disk: the files are what the run reports (``load_run`` checks ``scores.json`` against
``predictions.jsonl``), so the logger shows exactly the numbers the report shows, and it needs nothing from the
pipeline's memory. Why redacted again: ``config.yaml`` and ``run.json`` already are, but model outputs are not (a
server may echo a key back), and the logged copy leaves the machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from awaker_eval.redact import redact
from awaker_eval.report.runs import Run, load_run
from awaker_eval.run_validity import INVALID_KEY

SUMMARY_LEVELS = ("overall", "split")  # aggregates logged as scalars; every level goes to the breakdown table
GROUP_FIELDS = ("task", "subtask", "category", "l2_category")  # a sample's group levels, where the benchmark has them
SAMPLE_FIELDS = ("answer", "extracted", "extract_method", "correct", "raw_output", "error")
FINGERPRINTS = ("model_fp", "protocol_fp", "data_digest")
COUNTS = ("n", "n_correct", "n_failed", "n_unparsed")


@dataclass(frozen=True)
class Table:
    """Column names and rows (plain values), for a logger's table type."""

    columns: list[str]
    rows: list[list[Any]]


@dataclass(frozen=True)
class Payload:
    """One run as a logger receives it; every string already redacted."""

    name: str
    config: dict[str, Any]  # the run's settings (config.yaml) + ``fingerprints`` + ``run_dir``
    scores: dict[str, Any]  # Overall and each split: score, ci_lo, ci_hi, n (flat keys)
    summary: dict[str, Any]  # run directory, interval settings, counts, the invalid mark
    breakdown: Table  # every aggregate level: level, group, n, score, ci_lo, ci_hi
    samples: Table  # one row per prediction


def _number(value: Any) -> float | None:
    """A finite float, else None (an interval that could not be drawn is absent, never NaN)."""
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def interval_settings(run: Run) -> tuple[int, int, float]:
    """``(n_boot, seed, alpha)`` of the intervals stored in scores.json, so they are reused, not drawn again."""
    ci = run.scores.get("ci") if isinstance(run.scores.get("ci"), dict) else {}
    runner = run.config.get("runner") or {}
    n_boot = int(ci.get("n_boot", runner.get("bootstrap_samples", 1000)))
    seed = int(ci.get("seed", runner.get("seed", 0)))
    return n_boot, seed, round(1 - float(ci.get("level", 0.95)), 10)


def breakdown_table(run: Run) -> Table:
    """Every aggregate of the run with its interval (the report's per-group table); empty when answers are hidden."""
    columns = ["level", "group", "n", "score", "ci_lo", "ci_hi"]
    if not run.scored:
        return Table(columns, [])
    n_boot, seed, alpha = interval_settings(run)
    table = run.intervals(n_boot=n_boot, seed=seed, alpha=alpha).table
    rows = [[r.level, str(r.group), int(r.n), _number(r.score), _number(r.lo), _number(r.hi)]
            for r in table.itertuples()]
    return Table(columns, rows)


def score_scalars(breakdown: Table) -> dict[str, Any]:
    """``Overall``, ``Overall_ci_lo``, ``Overall_ci_hi``, ``Overall_n`` and the same for each split."""
    out: dict[str, Any] = {}
    for level, group, n, score, lo, hi in breakdown.rows:
        if level in SUMMARY_LEVELS:
            out.update({group: score, f"{group}_ci_lo": lo, f"{group}_ci_hi": hi, f"{group}_n": n})
    return out


def samples_table(run: Run) -> Table:
    """One row per prediction: id, the group levels the benchmark fills, answer, letter, outcome, output, error."""
    predictions = run.predictions()
    groups = [g for g in GROUP_FIELDS if any(getattr(p, g) is not None for p in predictions)]
    rows = [[p.id, *(getattr(p, g) for g in groups), *(getattr(p, f) for f in SAMPLE_FIELDS)] for p in predictions]
    return Table(["id", *groups, *SAMPLE_FIELDS], rows)


def run_summary(run: Run, run_dir: Path) -> dict[str, Any]:
    """Where the run's files are, how its intervals were drawn, its counts and (if any) why it does not stand."""
    n_boot, seed, alpha = interval_settings(run)
    summary: dict[str, Any] = {"run_dir": str(run_dir.resolve()), "ci_level": 1 - alpha, "ci_n_boot": n_boot,
                               "ci_seed": seed}
    summary.update({k: run.scores[k] for k in COUNTS if k in run.scores})
    if run.scores.get(INVALID_KEY):
        summary["invalid"] = run.scores[INVALID_KEY]
    return summary


def default_name(config: Mapping[str, Any], run_dir: Path) -> str:
    """``<model.name>/<benchmark.name>/<run directory name>``: the same words as the results folder."""
    model = (config.get("model") or {}).get("name") or "model"
    bench = (config.get("benchmark") or {}).get("name") or "benchmark"
    return f"{model}/{bench}/{run_dir.name}"


def run_payload(run_dir: Path, benchmarks: Mapping[str, Any], name: str | None = None) -> Payload:
    """The redacted payload of the run in ``run_dir`` (``benchmarks``: ``tasks.registry.catalogue()``)."""
    run = load_run(run_dir, benchmarks)
    breakdown = breakdown_table(run)
    config = {**run.config, "fingerprints": {k: run.meta.get(k) for k in FINGERPRINTS},
              "run_dir": str(run_dir.resolve())}
    return Payload(
        name=redact(name or default_name(run.config, run_dir)),
        config=redact(config),
        scores=redact(score_scalars(breakdown)),
        summary=redact(run_summary(run, run_dir)),
        breakdown=Table(breakdown.columns, redact(breakdown.rows)),
        samples=redact(samples_table(run)),
    )
