"""``awaker-eval compare BASE_RUN NEW_RUN [--max-drop POINTS] [--alpha 0.05] [--allow-mismatch]``: the CI gate.

Prints, per split / subtask / category, both scores, the difference with a paired bootstrap interval,
McNemar's p, the smallest drop detectable at that n and the flipped units, then the flipped unit ids and the
verdict. A single argument may be a Hydra multirun sweep holding exactly two runs (job 0 = base).

exit status:
  0  GATE PASSED: no gated aggregate dropped by more than --max-drop points with significance
  1  GATE FAILED: one did (named on the verdict line): a real regression
  2  usage error (e.g. --n-boot < 100, --alpha outside (0, 1), --max-drop not a finite number >= 0) or runs
     not comparable
  3  GATE INCONCLUSIVE: a gated aggregate has too few units to detect a drop of --max-drop points (the line
     names the drop it can detect and about how many units would detect --max-drop); see docs/ci-gate.md
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import pandas as pd

from awaker_eval.report.compare import (GATE_LEVELS, MismatchError, common_units, compare_table, flipped_units, gate,
                                        verdict_line)
from awaker_eval.report.flips import flips_with_outputs
from awaker_eval.report.options import MIN_N_BOOT, check_options
from awaker_eval.report.runs import Run, find_runs
from awaker_eval.tasks.registry import catalogue
from awaker_eval.run_validity import INVALID_KEY, invalid_line


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="awaker-eval compare", description=__doc__.split("\n\n")[1],
                                epilog=__doc__.split("\n\n")[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("base", metavar="BASE_RUN", help="baseline run directory (or a sweep with two runs)")
    p.add_argument("new", metavar="NEW_RUN", nargs="?", help="candidate run directory")
    p.add_argument("--max-drop", type=float, default=1.0, help="tolerated drop in points, finite, >= 0 (default 1.0)")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level in (0, 1); intervals are 1-alpha")
    p.add_argument("--allow-mismatch", action="store_true", help="compare the shared samples of unlike runs")
    p.add_argument("--gate-level", choices=sorted(GATE_LEVELS), default="split",
                   help="aggregates that can fail the gate (default: overall and splits)")
    p.add_argument("--n-boot", type=int, default=1000, help=f"bootstrap resamples, >= {MIN_N_BOOT} (default 1000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--show-flips", type=int, default=20, help="flipped unit ids to print per direction")
    p.add_argument("--out", type=Path, help="directory for compare.csv and flips.csv (each flipped unit with both "
                                            "runs' letters and raw outputs)")
    return p


def _resolve(base: str, new: str | None) -> tuple[Run, Run]:
    pair = _find_pair(base, new)
    for run in pair:
        if not run.scored:
            raise ValueError(f"{run.path}: has no score (hidden answers, e.g. MMBench TEST): nothing to compare")
        if run.scores.get(INVALID_KEY):  # a gate over numbers that do not stand would pass or fail on failures
            raise ValueError(f"{run.path}: {invalid_line(run.scores[INVALID_KEY])}; rerun it before comparing")
    return pair


def _find_pair(base: str, new: str | None) -> tuple[Run, Run]:
    if new is None:
        runs = find_runs([base], catalogue())
        if len(runs) != 2:
            raise ValueError(f"{base}: expected a sweep with exactly 2 runs, found {len(runs)}")
        return runs[0], runs[1]
    pair = []
    for path in (base, new):
        runs = find_runs([path], catalogue())
        if len(runs) != 1:
            raise ValueError(f"{path}: holds {len(runs)} runs; name one run directory")
        pair.append(runs[0])
    return pair[0], pair[1]


def format_table(table: pd.DataFrame, failing: pd.Index, alpha: float, blind: pd.Index | None = None) -> str:
    """The comparison as a markdown table; ``detectable`` is the smallest drop (points) significant at that n."""
    blind = pd.Index([]) if blind is None else blind
    level = int(round(100 * (1 - alpha)))
    shown = pd.DataFrame({
        "level": table["level"], "group": table["group"], "n": table["n"],
        "base": (100 * table["base"]).map("{:.2f}".format), "new": (100 * table["new"]).map("{:.2f}".format),
        "Δ pts": (100 * table["diff"]).map("{:+.2f}".format),
        f"{level}% CI Δ": [f"[{100 * lo:+.2f}, {100 * hi:+.2f}]" for lo, hi in zip(table["lo"], table["hi"])],
        "McNemar p": table["p_mcnemar"].map("{:.3g}".format),
        "detectable": (100 * table["detectable"]).map(lambda d: f"{d:.2f}" if math.isfinite(d) else "none"),
        "broken": table["broken"], "fixed": table["fixed"],
        "gate": ["FAIL" if i in failing else "inconclusive" if i in blind else "ok" for i in table.index],
    })
    return shown.to_markdown(index=False, disable_numparse=True)


def _flip_lines(flips: pd.DataFrame, limit: int) -> list[str]:
    lines = []
    for change in ("broken", "fixed"):
        ids = flips.loc[flips["change"] == change, "unit"].tolist()
        more = f" ... and {len(ids) - limit} more" if len(ids) > limit else ""
        lines.append(f"{change} ({len(ids)}): {', '.join(ids[:limit])}{more}")
    return lines


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        check_options(n_boot=args.n_boot, alpha=args.alpha, max_drop=args.max_drop)
        base, new = _resolve(args.base, args.new)
        merged = common_units(base, new, allow_mismatch=args.allow_mismatch)
    except (MismatchError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    table = compare_table(merged, base.bench, n_boot=args.n_boot, seed=args.seed, alpha=args.alpha)
    result = gate(table, args.max_drop, args.alpha, args.gate_level)
    flips = flipped_units(merged)
    print(f"base: {base.path} ({base.label})\nnew:  {new.path} ({new.label})\nunits matched: {len(merged)}\n")
    print(format_table(table, result.failed.index, args.alpha, result.blind.index))
    print("\nflipped units:\n" + "\n".join(_flip_lines(flips, args.show_flips)))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out / "compare.csv", index=False)
        flips_with_outputs(flips, base, new).to_csv(args.out / "flips.csv", index=False)
    print("\n" + verdict_line(result, args.max_drop, args.alpha, args.gate_level))
    if result.verdict == "FAILED":
        print("significant drops: " + "; ".join(f"{r.group} {100 * r.diff:+.2f}"
                                                for r in result.significant_drops.itertuples()))
    return result.exit_status
