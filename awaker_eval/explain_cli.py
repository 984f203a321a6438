"""``awaker-eval explain RUN_A RUN_B [--dry-run] [--json] [--out PAGE.html] [--permutations N] [--seed S]``.

Attributes the score difference B - A (Overall and each headline split) to the protocol knobs the two runs differ
in (prompt protocol, extractor, min/max pixels, max_new_tokens, runner mode, repetition penalty; a preset is its
knobs) by Shapley values over the configurations between them, each with a paired bootstrap 95% interval and the
units it flipped. Missing configurations run through the normal pipeline as run directories next to RUN_A
(a rerun resumes them, or runs nothing when all are there); extractor-only ones re-read stored raw outputs.

exit status: 0 explained; 2 usage error, runs that differ in model, data or items, an invalid or unscored run,
more than 5 differing knobs without --permutations.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from awaker_eval.attribution import Explanation, Settings, as_json, explain_pair, plan_pair
from awaker_eval.explain_plan import GIVEN, NEEDS_MODEL, REEXTRACT, STORED, Plan
from awaker_eval.report.comparison import resolve_pair
from awaker_eval.report.html_explain import write_explain_page
from awaker_eval.report.options import MIN_N_BOOT, check_options
from awaker_eval.tasks.registry import catalogue
from awaker_eval.user_errors import EXIT_USER_ERROR, describe


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="awaker-eval explain", description=__doc__.split("\n\n")[1],
                                epilog=__doc__.split("\n\n")[2])
    p.add_argument("a", metavar="RUN_A", help="the run the difference starts from")
    p.add_argument("b", metavar="RUN_B", help="the run it ends at")
    p.add_argument("--dry-run", action="store_true", help="list the configurations and their cost; run nothing")
    p.add_argument("--json", action="store_true", help='print {"total", "contributions", "intervals", "runs", ...}')
    p.add_argument("--out", type=Path, help="write an HTML page with the waterfall figure and per-knob flips")
    p.add_argument("--permutations", type=int, default=0,
                   help="sampled Shapley estimate over N random knob orders (needed above 5 knobs)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap and permutation seed")
    p.add_argument("--n-boot", type=int, default=1000, help=f"bootstrap resamples, >= {MIN_N_BOOT}")
    return p


def dry_run_lines(plan: Plan, orders) -> list[str]:
    """The configurations, how each is obtained, and the cost in units x configurations."""
    units = len(plan.a.units())
    n = len(plan.slots)
    infer = plan.count(*NEEDS_MODEL)
    method = "exact" if orders is None else f"sampled, {len(orders)} permutations"
    lines = [f"knobs ({len(plan.knobs)}): {', '.join(plan.knobs)}",
             f"configurations ({n}, {method}):"]
    for mask, slot in sorted(plan.slots.items()):
        how = f"re-extract from {plan.slots[slot.source].label}" if slot.status == REEXTRACT else slot.status
        lines.append(f"  {slot.label:<44} {how:<36} {slot.run_dir}")
    lines.append(f"cost: {units} units x {n} configurations = {units * n} unit evaluations; need inference: "
                 f"{infer} configuration(s) ({infer * units} units); re-extraction only: {plan.count(REEXTRACT)}; "
                 f"already there: {plan.count(GIVEN, STORED)}")
    return lines


def report_lines(expl: Explanation) -> list[str]:
    """The attribution as text: per aggregate the total and each knob's contribution, interval and flips."""
    plan = expl.plan
    lines = [f"A: {plan.a.path}", f"B: {plan.b.path}",
             f"{expl.method} Shapley attribution over {len(expl.runs)} configurations, {expl.overall.n} units"]
    for g in expl.groups:
        lines += ["", f"{g.name}: A {100 * g.score_a:.2f} -> B {100 * g.score_b:.2f}, B - A = "
                      f"{100 * g.total:+.2f} pts [{100 * g.total_interval[0]:+.2f}, {100 * g.total_interval[1]:+.2f}]"]
        for knob in plan.knobs:
            lo, hi = g.intervals[knob]
            lines.append(f"  {knob:<28} {100 * g.contributions[knob]:+7.2f} pts  95% CI [{100 * lo:+.2f}, "
                         f"{100 * hi:+.2f}]  fixed {g.fixed[knob]}, broken {g.broken[knob]}")
        lines.append(f"  {'sum of contributions':<28} {100 * sum(g.contributions.values()):+7.2f} pts (= B - A)")
    return lines


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        return _explain(args)
    except (ValueError, FileNotFoundError) as exc:  # bad input: one line naming the run or option, exit 2
        print(f"error: {describe(exc)}", file=sys.stderr)
        return EXIT_USER_ERROR


def _explain(args: argparse.Namespace) -> int:
    check_options(n_boot=args.n_boot)
    if args.permutations < 0:
        raise ValueError(f"--permutations must be >= 1 for a sampled estimate, or 0 for the exact one "
                         f"(got {args.permutations})")
    settings = Settings(n_boot=args.n_boot, seed=args.seed, permutations=args.permutations)
    benchmarks = catalogue()  # names -> objects, once
    a, b = resolve_pair(args.a, args.b, benchmarks)
    if args.dry_run:
        plan, orders = plan_pair(a, b, settings)
        print("\n".join(dry_run_lines(plan, orders)))
        return 0
    expl = explain_pair(a, b, benchmarks, settings)
    report = as_json(expl)
    if args.out:
        page = write_explain_page(report, expl.flipped, args.out)
        print(f"page: {page}", file=sys.stderr)
    print(json.dumps(report, indent=2) if args.json else "\n".join(report_lines(expl)))
    return 0
