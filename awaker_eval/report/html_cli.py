"""``awaker-eval report RUN_DIR... [--out FILE] [--no-plots]``: one static ``report.html`` per run directory."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from awaker_eval.report.html import write_report
from awaker_eval.report.runs import find_runs


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="awaker-eval report", description="static HTML report per run directory")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories or sweep directories")
    p.add_argument("--out", type=Path, help="output file (one run only; default RUN_DIR/report.html)")
    p.add_argument("--no-plots", action="store_true", help="skip the figures (faster)")
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        runs = find_runs(args.runs)
        if args.out and len(runs) > 1:
            raise ValueError(f"--out names one file but {len(runs)} runs were found")
        for run in runs:
            path = write_report(run, args.out, n_boot=args.n_boot, seed=args.seed, plots=not args.no_plots)
            print(path)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
