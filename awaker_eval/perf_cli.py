"""``awaker-eval perf``: throughput of the engine against the plain per-sample loop, printed as one table
(``awaker_eval/perf.py`` measures; this module parses the arguments and resolves the benchmark first, so
``--help``, a bad option or an unknown benchmark answer before torch loads).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from awaker_eval.config.schema import BenchmarkConfig
from awaker_eval.tasks.base import BenchmarkError
from awaker_eval.tasks.registry import get_benchmark


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="awaker-eval perf", description=__doc__.split("\n")[0])
    ap.add_argument("--benchmark", default=BenchmarkConfig().kind,
                    help="benchmark kind whose synthetic workload is measured (default: the demo's, %(default)s)")
    ap.add_argument("--n", type=int, default=200, help="synthetic items (default 200)")
    ap.add_argument("--min-size", type=int, default=1000, help="smallest image side in px")
    ap.add_argument("--max-size", type=int, default=2000, help="largest image side in px")
    ap.add_argument("--max-pixels", type=int, default=256 * 28 * 28,
                    help="resolution policy for every path (default 256 visual tokens, CPU friendly)")
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-batch-visual-tokens", type=int, default=None)
    ap.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--cache-dir", type=Path, default=None, help="tiny model + data cache (default ~/.cache/awaker_eval)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(argv or []))
    try:
        bench = get_benchmark(args.benchmark)  # the object, resolved once, before anything heavy loads
    except BenchmarkError as exc:
        print(f"awaker-eval perf: error: {exc}", file=sys.stderr)
        return 2
    # deliberately lazy (docs/architecture.md): the measurement loads torch, transformers and the tiny model
    from awaker_eval.perf import run

    return run(args, bench)
