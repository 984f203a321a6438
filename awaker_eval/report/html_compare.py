"""One HTML page comparing several runs: a headline row per run, all of them among the published rows, and for
every run after the first the paired differences against the first (the base) with the ``compare`` gate verdict.

The numbers come from ``awaker_eval.report.compare`` (the functions behind ``awaker-eval compare``), so the page
and the CI gate can never disagree.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from awaker_eval.report.compare import MismatchError, common_units, compare_table, flipped_units, gate, verdict_line
from awaker_eval.report.flips import flips_html
from awaker_eval.report.html import (esc, table_html, headline_html, leaderboard_html, page, problem_samples,
                                     settings_html)
from awaker_eval.report.plots import readable_group
from awaker_eval.report.runs import Run, unique_labels
from awaker_eval.report.small_n import interval_text
from awaker_eval.tasks.base import Benchmark


VERDICT_CLASS = {"FAILED": "fail", "INCONCLUSIVE": "inconclusive", "PASSED": "pass"}


def _row_verdict(i, failing: pd.Index, blind: pd.Index) -> str:
    """The gate cell, as ``compare`` prints it: FAIL, inconclusive or ok."""
    if i in failing:
        return '<span class="fail">FAIL</span>'
    return '<span class="inconclusive">inconclusive</span>' if i in blind else '<span class="pass">ok</span>'


def _diff_rows(table: pd.DataFrame, failing: pd.Index, bench: Benchmark, blind: pd.Index) -> list[list[str]]:
    """The table's cells; ``detectable`` is the smallest drop (points) significant at that n, or none."""
    rows = []
    for i, r in table.iterrows():
        detectable = f"{100 * r['detectable']:.2f}" if math.isfinite(r["detectable"]) else "none"
        rows.append([esc(readable_group(r["level"], r["group"], bench)), f"{int(r['n']):,}",
                     f"{100 * r['base']:.2f}", f"{100 * r['new']:.2f}", f"{100 * r['diff']:+.2f}",
                     interval_text(r["lo"], r["hi"], r["interval"], signed=True), f"{r['p_mcnemar']:.3g}", detectable,
                     f"{int(r['broken'])}", f"{int(r['fixed'])}", _row_verdict(i, failing, blind)])
    return rows


def pair_html(base: tuple[str, Run], new: tuple[str, Run], max_drop: float, alpha: float, gate_level: str,
              n_boot: int, seed: int, report_dir: Path | None = None) -> str:
    """Paired differences of ``new`` against ``base``, the gate verdict and the flipped units side by side
    (thumbnails linked from ``report_dir``), or why the runs are not comparable."""
    (base_label, base_run), (new_label, new_run) = base, new
    head = f"<h3>{esc(new_label)} vs {esc(base_label)} (base)</h3>"
    try:
        merged = common_units(base_run, new_run)
    except MismatchError as exc:
        return head + f'<p class="verdict fail">not comparable</p><pre>{esc(exc)}</pre>'
    table = compare_table(merged, base_run.bench, n_boot=n_boot, seed=seed, alpha=alpha)
    result = gate(table, max_drop, alpha, gate_level)
    verdict = (f'<p class="verdict {VERDICT_CLASS[result.verdict]}">'
               f"{esc(verdict_line(result, max_drop, alpha, gate_level))}</p>")
    level = int(round(100 * (1 - alpha)))
    header = ["group", "n", "base %", "new %", "Δ pts", f"{level}% CI Δ", "McNemar p", "detectable drop", "broken",
              "fixed", "gate"]
    return (head + verdict + f"<p>{len(merged):,} units matched; Δ = new - base, paired clustered bootstrap; "
            "detectable drop: the smallest drop (pts) the gate can call significant at that n.</p>"
            + table_html(header, _diff_rows(table, result.failed.index, base_run.bench, result.blind.index))
            + flips_html(flipped_units(merged), base, new, report_dir or base_run.path))


def render_comparison(runs: list[Run], report_dir: Path, plots_dir: Path | None, n_boot: int = 1000,
                      seed: int = 0, max_drop: float = 1.0, alpha: float = 0.05, gate_level: str = "split") -> str:
    scored = [run for run in runs if run.scored]
    if len(scored) < 2:
        raise ValueError(f"a comparison needs at least 2 scored runs, got {len(scored)}")
    labelled = list(zip(unique_labels(scored), scored))
    with_scores = [(label, run, run.scores_with_ci(n_boot=n_boot, seed=seed)) for label, run in labelled]
    body = [headline_html(with_scores), leaderboard_html(with_scores, plots_dir, report_dir),
            f"<h2>Paired differences against {esc(labelled[0][0])}</h2>"]
    body += [pair_html(labelled[0], other, max_drop, alpha, gate_level, n_boot, seed, report_dir)
             for other in labelled[1:]]
    counts = [[esc(label), *(f"{len(f):,}" for f in problem_samples(run.predictions()))] for label, run in labelled]
    body += ["<h2>Failed and unparsable samples</h2>", table_html(["run", "failed", "unparsable"], counts),
             "<p>Each run's own report.html lists them with their raw outputs.</p>", "<h2>Settings</h2>",
             settings_html(scored)]
    title = f"Comparison of {len(scored)} runs on {scored[0].benchmark.name}"
    return page(title, " · ".join(label for label, _ in labelled), body)


def write_comparison(runs: list[Run], out: Path, plots: bool = True, **options) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    plots_dir = out.parent / f"{out.stem}_plots" if plots else None
    out.write_text(render_comparison(runs, out.parent, plots_dir, **options), encoding="utf-8")
    return out
