"""``awaker-eval curve DIR [--out OUT_DIR] [--n-boot N] [--seed S]``: accuracy against resolution.

Over the runs below DIR that differ only in ``benchmark.max_pixels`` (a sweep ``-m benchmark.max_pixels=...``),
plots Overall and each headline split with 95% intervals against the mean visual tokens per image (recorded in
each run's run.json; counted from the data with Qwen2-VL's resize rule for runs made before it was recorded),
with the published value of the same model as a line where the benchmark has one, and writes the CSV (one row
per run). Written to OUT_DIR (default DIR/curve): curve.png, curve.svg, curve.csv.

exit status: 0 written; 2 fewer than 2 runs, runs that differ in anything but max_pixels, a repeated max_pixels,
an invalid or unscored run, a missing directory.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from awaker_eval.data.registry import load_benchmark
from awaker_eval.attribution import HEADLINE_LEVELS, other_differences
from awaker_eval.explain_runs import usable
from awaker_eval.report.explain_figures import plot_curve
from awaker_eval.report.leaderboard import table_spec
from awaker_eval.report.options import MIN_N_BOOT, check_options
from awaker_eval.report.reproduction import published_row
from awaker_eval.report.runs import Run, find_runs
from awaker_eval.tasks.registry import catalogue
from awaker_eval.user_errors import EXIT_USER_ERROR, describe
from awaker_eval.visual_tokens import qwen2_vl_tokens, summary

SWEPT = "benchmark.max_pixels"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="awaker-eval curve", description=__doc__.split("\n\n")[1],
                                epilog=__doc__.split("\n\n")[2])
    p.add_argument("dir", metavar="DIR", help="a sweep (or any directory) holding the runs")
    p.add_argument("--out", type=Path, help="output directory (default: DIR/curve)")
    p.add_argument("--n-boot", type=int, default=1000, help=f"bootstrap resamples, >= {MIN_N_BOOT}")
    p.add_argument("--seed", type=int, default=0)
    return p


def check_sweep(runs: list[Run]) -> None:
    """Refuse a set that is not one resolution sweep: each run like the first in all but max_pixels, once each."""
    if len(runs) < 2:
        raise ValueError(f"a curve needs at least 2 runs, found {len(runs)}")
    first = runs[0]
    for run in runs[1:]:
        problems = other_differences(first, run, knobs=(SWEPT,))
        if problems:
            raise ValueError(f"{run.path} differs from {first.path} in more than {SWEPT}: {'; '.join(problems)}")
    seen: dict = {}
    for run in runs:
        value = run.benchmark.max_pixels
        if value in seen:
            raise ValueError(f"{run.path} and {seen[value]} both have {SWEPT}={value}: one run per value")
        seen[value] = run.path


QWEN2_VL_KINDS = ("tiny", "qwen2_vl", "awaker2_5_vl")  # models whose visual tokens follow the Qwen2-VL rule


def mean_tokens(run: Run) -> tuple[float, str]:
    """Mean visual tokens per image: the run's record, else counted from its data with Qwen2-VL's rule (only for
    a Qwen2-VL model: another model's axis would be in another unit)."""
    record = (run.meta or {}).get("visual_tokens") or {}
    bench = run.benchmark
    if record.get("mean_per_image") is not None and (record.get("min_pixels"), record.get("max_pixels")) == (
            bench.min_pixels, bench.max_pixels):
        return float(record["mean_per_image"]), "recorded"
    kind = (run.config.get("model") or {}).get("kind")
    if kind not in QWEN2_VL_KINDS:
        raise ValueError(f"{run.path}: run.json records no visual tokens and model.kind={kind!r} is not a "
                         f"Qwen2-VL model whose tokens could be counted from the data: rerun it to record them")
    counted = summary(load_benchmark(run.bench, bench).samples, qwen2_vl_tokens, bench.min_pixels, bench.max_pixels)
    if counted["mean_per_image"] is None:
        raise ValueError(f"{run.path}: no readable image to count visual tokens from")
    return float(counted["mean_per_image"]), "counted from the data (Qwen2-VL rule)"


def curve_rows(runs: list[Run], n_boot: int, seed: int) -> pd.DataFrame:
    """One row per run: max_pixels, mean visual tokens, n, and score / lo / hi (points) of each headline group."""
    rows = []
    for run in runs:
        tokens, source = mean_tokens(run)
        table = run.intervals(n_boot=n_boot, seed=seed).table
        row = {"run": str(run.path), "max_pixels": run.benchmark.max_pixels, "mean_visual_tokens": tokens,
               "tokens_source": source, "n": int(table.loc[table["level"] == "overall", "n"].iloc[0])}
        for r in table[table["level"].isin(HEADLINE_LEVELS)].itertuples():
            row.update({f"{r.group}_score": 100 * r.score, f"{r.group}_lo": 100 * r.lo, f"{r.group}_hi": 100 * r.hi})
        rows.append(row)
    return pd.DataFrame(rows).sort_values("mean_visual_tokens", kind="stable").reset_index(drop=True)


def published_values(run: Run, groups: list[str]) -> dict[str, float]:
    """The same model's published value of each plotted group (empty: no counterpart)."""
    spec = table_spec(run.bench, run.benchmark)
    row = published_row(spec, run.model)
    if row is None:
        return {}
    columns = {c.key: c.key for c in spec.columns}
    return {g: float(row[g.lower()]) for g in groups if g.lower() in columns and pd.notna(row[g.lower()])}


def curve_table(data: pd.DataFrame, groups: list[str]) -> str:
    """The curve as a markdown table: max_pixels, mean visual tokens, n, each group's score with its interval."""
    pixels = ["processor default" if pd.isna(v) else str(int(v)) for v in data["max_pixels"]]
    shown = pd.DataFrame({"max_pixels": pixels,
                          "visual tokens / image": data["mean_visual_tokens"].map("{:.1f}".format),
                          "n": data["n"].astype(str)})
    for g in groups:
        shown[g] = [f"{s:.2f} [{lo:.2f}, {hi:.2f}]" for s, lo, hi in
                    zip(data[f"{g}_score"], data[f"{g}_lo"], data[f"{g}_hi"])]
    return shown.to_markdown(index=False, disable_numparse=True)


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        check_options(n_boot=args.n_boot)
        runs = [usable(run) for run in find_runs([args.dir], catalogue())]
        check_sweep(runs)
        data = curve_rows(runs, args.n_boot, args.seed)
    except (ValueError, FileNotFoundError) as exc:  # bad input: one line naming the run, exit 2
        print(f"error: {describe(exc)}", file=sys.stderr)
        return EXIT_USER_ERROR
    out = args.out or Path(args.dir) / "curve"
    groups = [c[: -len("_score")] for c in data.columns if c.endswith("_score")]
    published = published_values(runs[0], groups)
    png = plot_curve(data, out / "curve.png", f"{runs[0].label} on {runs[0].benchmark.name}: accuracy vs "
                                              "resolution", published)
    print(curve_table(data, groups))
    print(f"\npublished: {', '.join(f'{g} {v:g}' for g, v in published.items()) or 'none for this model'}")
    print(f"figure: {png}\ncsv: {png.with_suffix('.csv')}")
    return 0
