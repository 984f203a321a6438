"""``awaker-eval export-submission RUN_DIR [--benchmark NAME] [options of that benchmark's writer]``.

The core command names no benchmark: it resolves the run's benchmark (``benchmark.kind`` in the run's
``config.yaml``, or ``--benchmark``), asks it for its server-submission writer (``Benchmark.export_submission``)
and hands it the arguments. A benchmark without a submission (MME-RealWorld, MCQ TSVs: scored locally) is
refused in one line, exit 2, before anything is written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from awaker_eval.rundir import CONFIG_FILE, read_config
from awaker_eval.tasks.base import Benchmark, BenchmarkError
from awaker_eval.tasks.registry import get_benchmark, registered

PROG = "awaker-eval export-submission"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, add_help=False, description=__doc__.split("\n\n")[1])
    p.add_argument("run_dir", nargs="?")
    p.add_argument("--benchmark", default=None, help="benchmark kind (default: from RUN_DIR/config.yaml)")
    return p


def with_submission() -> list[str]:
    """Registered benchmark kinds that have a server submission."""
    return [kind for kind in registered() if get_benchmark(kind).export_submission is not None]


def resolve(run_dir: Path | None, named: str | None) -> Benchmark:
    """The run's benchmark, from its config.yaml and/or ``--benchmark``; a ValueError says what does not fit."""
    cfg = read_config(run_dir) if run_dir is not None and run_dir.is_dir() else None
    kind = ((cfg or {}).get("benchmark") or {}).get("kind") if isinstance(cfg, dict) else None
    if named and kind and named != kind:
        raise ValueError(f"{run_dir / CONFIG_FILE}: benchmark kind is {kind!r}, not --benchmark {named!r}")
    kind = named or kind
    if not kind:
        where = f"{run_dir}: no {CONFIG_FILE} naming the benchmark" if run_dir else "no RUN_DIR"
        raise ValueError(f"{where}: pass --benchmark ({', '.join(with_submission()) or '-'})")
    bench = get_benchmark(str(kind))
    if bench.export_submission is None:
        raise ValueError(f"benchmark {bench.kind!r} has no server submission (its runs are scored locally); "
                         f"export-submission writes one for: {', '.join(with_submission()) or '-'}")
    return bench


def main(argv: list[str]) -> int:
    args, rest = _parser().parse_known_args(argv)
    asks_help = any(a in ("-h", "--help") for a in rest)
    if asks_help and not args.run_dir and not args.benchmark:
        print(f"usage: {PROG} RUN_DIR [--benchmark NAME] [options]\n\n{__doc__.split(chr(10) * 2)[1]}\n\n"
              f"benchmarks with a submission: {', '.join(with_submission()) or '-'}")
        return 0
    try:
        bench = resolve(Path(args.run_dir) if args.run_dir else None, args.benchmark)
    except (ValueError, BenchmarkError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    known = [get_benchmark(kind) for kind in registered()]
    return bench.export_submission(([args.run_dir] if args.run_dir else []) + rest, known)
