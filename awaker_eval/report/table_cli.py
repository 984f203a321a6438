"""``awaker-eval table RUN_DIR... [--benchmark NAME] [--format md|csv|latex]``.

Prints the Awaker README table(s) with our runs inserted. RUN_DIR may be a run directory or a directory above
runs (Hydra multirun sweep). Without RUN_DIR it prints the published rows alone. Runs of the same model label on
MMBench v1.0 and v1.1 share one row (Overall = their mean, as in the README).
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict

from awaker_eval.report.leaderboard import OurRow, our_row, render_table, table_spec
from awaker_eval.report.options import MIN_N_BOOT, check_options
from awaker_eval.report.published import TableSpec, published_tables, resolve_table
from awaker_eval.report.reproduction import verdict_text
from awaker_eval.report.runs import Run, find_runs, unique_labels
from awaker_eval.tasks.registry import catalogue, in_registration_order
from awaker_eval.sweep_dirs import sweep_job_overrides


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="awaker-eval table", description=__doc__.split("\n\n")[1])
    p.add_argument("runs", nargs="*", metavar="RUN_DIR", help="run directories or sweep directories")
    p.add_argument("--benchmark", help="table: mme_realworld, mme_realworld_cn, mmbench, mmbench_cn")
    p.add_argument("--format", choices=("md", "csv", "latex"), default="md")
    p.add_argument("--n-boot", type=int, default=1000,
                   help=f"resamples when a run has no stored intervals, >= {MIN_N_BOOT}")
    p.add_argument("--seed", type=int, default=0)
    return p


def _labelled(runs: list[Run]) -> list[tuple[str, Run]]:
    """Unique row labels: sweep jobs are named after their overrides; other runs sharing a label (and, for MMBench,
    a version) get their directory name added."""
    labels = unique_labels(runs, shared=lambda run: run.benchmark.version if run.bench.version_columns
                           else "")
    return [(sweep_label(run) or label, run) for label, run in zip(labels, runs)]


def sweep_label(run: Run) -> str | None:
    """A sweep job's row is named after its overrides: ``tiny (model.seed=1)``; None outside sweeps."""
    overrides = sweep_job_overrides(run.path.name)
    return f"{run.label} ({overrides})" if overrides else None


def rows_for(spec: TableSpec, runs: list[Run], n_boot: int = 1000, seed: int = 0) -> list[OurRow]:
    """Our rows of one table: one per run, MMBench versions of one label merged."""
    by_label: dict[str, list[Run]] = defaultdict(list)
    for label, run in _labelled(runs):
        by_label[label].append(run)
    return [
        our_row(group[0].bench, spec, label, [(r.benchmark, r.scores_with_ci(n_boot=n_boot, seed=seed)) for r in group])
        for label, group in by_label.items()
    ]


def _by_table(runs: list[Run], specs: dict[str, TableSpec]) -> dict[str, list[Run]]:
    """Scored runs per README table (``specs`` collects the tables seen); a table is listed (possibly empty)
    for every run given. A benchmark without published rows gets a table of our runs alone."""
    by_table: dict[str, list[Run]] = {}
    for run in runs:
        spec = table_spec(run.bench, run.benchmark)
        specs.setdefault(spec.key, spec)
        group = by_table.setdefault(spec.key, [])
        if run.scored:
            group.append(run)
        else:
            print(f"note: {run.path}: no score (hidden answers, e.g. MMBench TEST): skipped", file=sys.stderr)
    return by_table


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        check_options(n_boot=args.n_boot)
        published = published_tables(in_registration_order())
        specs: dict[str, TableSpec] = dict(published)
        by_table = _by_table(find_runs(args.runs, catalogue()), specs)
        if args.benchmark:
            keys = [args.benchmark if args.benchmark in by_table else resolve_table(args.benchmark, published).key]
        else:
            keys = list(by_table) or list(published)
        if args.format == "csv" and len(keys) > 1:
            raise ValueError("--format csv prints one table: choose it with --benchmark")
        texts = [render_table(specs[k], rows_for(specs[k], by_table.get(k, []), args.n_boot, args.seed),
                              args.format) + verdict_text(specs[k], _labelled(by_table.get(k, [])), args.format)
                 for k in keys]
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write("\n".join(texts))
    return 0
