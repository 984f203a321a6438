"""``awaker-eval report RUN_DIR... [--out FILE] [--each] [--no-plots]``: the static HTML report.

One run: ``RUN_DIR/report.html`` with its sample browser (``samples.html``). Several runs: one page comparing them
(the first is the base): a headline row per run, the paired differences, the ``compare`` gate verdict (PASSED,
FAILED or INCONCLUSIVE, as ``compare`` decides it) and every flipped unit side by side; written beside the runs
(the sweep directory, else their common folder) unless ``--out`` says where; ``--each`` writes one page per run
instead. The exit status is 0 once the page is written, whatever
the verdict: the gate's exit status is ``compare``'s.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from awaker_eval.report.compare import GATE_LEVELS
from awaker_eval.report.html import write_report
from awaker_eval.report.html_compare import write_comparison
from awaker_eval.report.options import MIN_N_BOOT, check_options
from awaker_eval.report.out_paths import COMPARISON_FILE, default_comparison
from awaker_eval.report.runs import find_runs
from awaker_eval.tasks.registry import catalogue


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="awaker-eval report", description=__doc__.split("\n\n")[1])
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories or sweep directories")
    p.add_argument("--out", type=Path, help=f"output file (default: RUN_DIR/report.html for one run; for several, "
                                            f"{COMPARISON_FILE} beside them: the sweep directory or their common "
                                            "folder)")
    p.add_argument("--each", action="store_true", help="several runs: one report.html per run directory")
    p.add_argument("--no-plots", action="store_true", help="skip the figures (faster)")
    p.add_argument("--max-drop", type=float, default=1.0,
                   help="gate: tolerated drop in points, finite, >= 0 (default 1.0)")
    p.add_argument("--alpha", type=float, default=0.05, help="gate: significance level in (0, 1) (default 0.05)")
    p.add_argument("--gate-level", choices=sorted(GATE_LEVELS), default="split")
    p.add_argument("--n-boot", type=int, default=1000, help=f"bootstrap resamples, >= {MIN_N_BOOT} (default 1000)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        check_options(n_boot=args.n_boot, alpha=args.alpha, max_drop=args.max_drop)
        runs = find_runs(args.runs, catalogue())
        if len(runs) > 1 and not args.each:
            path = write_comparison(runs, args.out or default_comparison(runs), plots=not args.no_plots,
                                    n_boot=args.n_boot, seed=args.seed, max_drop=args.max_drop, alpha=args.alpha,
                                    gate_level=args.gate_level)
            print(path)
            return 0
        if args.out and len(runs) > 1:
            raise ValueError(f"--out names one file but --each writes {len(runs)} reports")
        for run in runs:
            print(write_report(run, args.out, n_boot=args.n_boot, seed=args.seed, plots=not args.no_plots))
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
