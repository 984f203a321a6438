"""``awaker-eval merge RUN_DIR``: merge and score the N job-array shards of a run (``runner.shard=I/N``).

The last shard to finish does this by itself; the command is for a merge job after a job array, or after fixing a
shard. It refuses (one line, exit 2) a missing, unfinished or foreign shard, and loads neither data nor model.
Exit 1, after writing every output, when more samples failed than ``runner.max_failed_fraction`` allows (as a run).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from awaker_eval.resolve import benchmark_of
from awaker_eval.run_lock import run_dir_lock
from awaker_eval.run_validity import TooManyFailedSamples, check_failed_samples
from awaker_eval.shard_checks import plan_merge
from awaker_eval.shard_merge import config_of, merge_lock, merge_run
from awaker_eval.shard_records import ShardRefused


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="awaker-eval merge", description=__doc__.split("\n\n")[1])
    parser.add_argument("run_dir", help="the run directory the shards wrote into (printed by each shard)")
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise ShardRefused(f"{run_dir} is not a directory: pass the run directory the shards printed")
    # shared with shards still running (the plan then names the unfinished one), exclusive of a whole run
    with run_dir_lock(run_dir, shared=True, note="merge"), merge_lock(run_dir):
        plan = plan_merge(run_dir)
        merge_run(run_dir, plan, benchmark_of(config_of(plan.first).benchmark))  # the object, resolved once here
    try:
        check_failed_samples(plan.predictions, config_of(plan.first).runner.max_failed_fraction)
    except TooManyFailedSamples as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
