"""``awaker-eval plot RUN_DIR... [--out DIR] [--level LEVEL] [--heatmap-by FIELD] [--phase prefill|decode]``.

Writes, for the runs given (run or sweep directories), one bar chart per breakdown level (PNG + SVG + CSV
of the plotted numbers) and, for each run with routing records, the expert heatmap (PNG + CSV of the counts).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path

from awaker_eval.report.groups import levels_for
from awaker_eval.report.options import MIN_N_BOOT, check_options
from awaker_eval.report.out_paths import default_plots
from awaker_eval.report.plots import (LEVEL_TITLES, plot_routing_heatmap, plot_score_bars, routing_counts,
                                      score_bars_data)
from awaker_eval.report.runs import Run, find_runs, unique_labels
from awaker_eval.tasks.registry import catalogue



def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "run"


def write_plots(runs: list[Run], out: Path, levels: list[str] | None = None, n_boot: int = 1000, seed: int = 0,
                heatmap_by: str | None = None, phase: str = "prefill") -> list[Path]:
    """All figures for ``runs`` under ``out``; returns the PNG paths written (SVG and CSV beside each).

    An unknown ``levels`` entry is a ValueError naming the valid ones, before anything is written."""
    written: list[Path] = []
    by_kind: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        if run.scored:
            by_kind[run.kind].append(run)
    valid = sorted({lvl for group in by_kind.values() for lvl in levels_for(group[0].bench)} - {"overall"})
    unknown = [lvl for lvl in levels or [] if lvl not in valid]
    if unknown:
        raise ValueError(f"unknown --level {', '.join(map(repr, unknown))}: choose from {', '.join(valid) or '-'}")
    labels = dict(zip(map(id, runs), unique_labels(runs)))  # two checkpoints both named pytorch_model.bin
    for kind, group in by_kind.items():
        bench = group[0].bench
        items = [(labels[id(run)], run.units(), bench, run.intervals(n_boot=n_boot, seed=seed)) for run in group]
        kind_levels = [lvl for lvl in levels_for(bench) if lvl != "overall"]
        spec = bench.published_table(group[0].benchmark.language)
        name = spec.title if spec is not None else bench.title
        for level in levels or kind_levels:
            if level not in kind_levels:
                continue
            data = score_bars_data(items, level, n_boot=n_boot, seed=seed, overall=level == kind_levels[0])
            title = f"{name}: accuracy by {LEVEL_TITLES.get(level, bench.level_label(level))}"
            written.append(plot_score_bars(data, out / f"{kind}_{level}.png", title=title, bench=bench))
    for run in runs:
        by = heatmap_by or run.bench.heatmap_by
        if by is None:  # the benchmark names no heatmap rows: no figure
            continue
        counts = routing_counts(run.predictions(), by=by, phase=phase)
        if not counts.empty:
            png = out / f"experts_{_slug(labels[id(run)])}_{phase}.png"
            written.append(plot_routing_heatmap(counts, png, title=labels[id(run)], phase=phase))
    return written


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="awaker-eval plot", description=__doc__.split("\n\n")[1])
    p.add_argument("runs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--out", type=Path, help="output folder (default: RUN_DIR/plots for one run; for several, plots/ "
                                            "beside them: the sweep directory or their common folder)")
    p.add_argument("--level", action="append", help="split, subtask, category, l2_category (repeatable)")
    p.add_argument("--heatmap-by", help="Prediction field that names the task rows of the expert heatmap")
    p.add_argument("--phase", choices=("prefill", "decode"), default="prefill")
    p.add_argument("--n-boot", type=int, default=1000, help=f"bootstrap resamples, >= {MIN_N_BOOT} (default 1000)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        check_options(n_boot=args.n_boot)
        runs = find_runs(args.runs, catalogue())
        out = args.out or default_plots(runs)
        written = write_plots(runs, out, args.level, args.n_boot, args.seed, args.heatmap_by, args.phase)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"{path}  (+ {path.with_suffix('.svg').name}, {path.with_suffix('.csv').name})")
    return 0
