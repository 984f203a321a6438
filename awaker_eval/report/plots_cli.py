"""``awaker-eval plot RUN_DIR... [--out DIR] [--level LEVEL] [--heatmap-by FIELD] [--phase prefill|decode]``.

Writes, for the runs given (run or sweep directories), one bar chart per breakdown level (PNG + SVG + CSV
of the plotted numbers) and, for each run with routing records, the expert heatmap (PNG + CSV of the counts).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from awaker_eval.report.figures import write_plots
from awaker_eval.report.options import MIN_N_BOOT, check_options
from awaker_eval.report.out_paths import default_plots
from awaker_eval.report.runs import find_runs
from awaker_eval.tasks.registry import catalogue


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
