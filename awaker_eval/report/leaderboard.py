"""The README-style leaderboard: our runs among the published rows, with intervals and honest notes.

Rows are sorted by Overall (stable, so the published order survives ties), the best value of every column is
bold, our rows are marked and carry the 95% interval of their Overall. Wherever our protocol differs from the
published one (MMBench DEV vs TEST, item count, resolution, prompt protocol) a note under the table says so.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field

import pandas as pd

from awaker_eval.config.schema import BenchmarkConfig
from awaker_eval.data.subsets import describe_subset
from awaker_eval.report.published import TableSpec, ours_only
from awaker_eval.report.runs import benchmark_config
from awaker_eval.run_validity import INVALID_KEY, invalid_line, marked_label
from awaker_eval.tasks.base import Benchmark, BenchmarkError

CI_HEADER = "95% CI (ours)"
MARK = {"md": " ★", "html": " ★", "latex": r" $\star$", "csv": ""}


@dataclass
class OurRow:
    """One of our rows: score column -> fraction, the Overall interval (fractions) and notes about it."""

    label: str
    values: dict[str, float]
    ci: tuple[float, float] | None = None
    notes: list[str] = field(default_factory=list)


def _describe(task: Benchmark, label: str, bench: BenchmarkConfig, scores: dict) -> str:
    """One line per run: what exactly was scored, so every number carries its settings and item count."""
    n = scores.get("n", scores.get("n_questions"))
    what = f"{bench.name} {bench.version}" if task.version_columns else bench.name
    count = f"n={n:,} {task.unit_noun}, " if isinstance(n, int) else ""
    return (f"{label}: {what}, {bench.split} split, {count}protocol={bench.protocol}, extractor={bench.extractor}, "
            f"min_pixels={_pixels(bench.min_pixels)}, max_pixels={_pixels(bench.max_pixels)}")


def _pixels(value: int | None) -> str:
    """A resolution bound as printed in the notes: unset means the image processor's own default."""
    return "processor default" if value is None else str(value)


def _protocol_notes(task: Benchmark, spec: TableSpec, label: str, bench: BenchmarkConfig, scores: dict) -> list[str]:
    """What the row measured, and where it was made otherwise than the published rows of ``spec`` (the
    benchmark's official prompt and its default, official extractor)."""
    notes = [_describe(task, label, bench, scores), *task.leaderboard_notes(label, bench, scores)]
    subset = describe_subset(bench.limit, bench.subset, bench.subset_seed)
    if subset:
        notes.append(f"{label}: a subset run ({subset}): not comparable to the published rows.")
    if not spec.published:
        notes.append(f"{label}: {bench.name} has no published leaderboard rows: the table lists our runs only.")
    elif bench.protocol != "official" or not _official_extractor(task, bench.extractor):
        notes.append(f"{label}: prompt protocol '{bench.protocol}' / extractor '{bench.extractor}' differ from the "
                     f"official ones behind the published {spec.title} rows.")
    return notes


def _official_extractor(task: Benchmark, extractor: str | None) -> bool:
    """Whether ``extractor`` is the benchmark's default one (the one behind its published rows)."""
    try:
        return task.resolve_extractor(extractor) == task.default_extractor
    except BenchmarkError:
        return False


def table_spec(task: Benchmark, bench: BenchmarkConfig) -> TableSpec:
    """The published table a run belongs to, or the table of our rows alone when its benchmark has none."""
    return task.published_table(bench.language) or ours_only(bench.name, bench.kind, bench.language)


def our_row(task: Benchmark, spec: TableSpec, label: str, parts: list[tuple[BenchmarkConfig, dict]]) -> OurRow:
    """Our row from one run, or (benchmarks with version columns, MMBench) up to one run per version; a row with an
    invalid run in it (too many failed samples) is labelled so, with the reason as a note: never a bare number."""
    invalid = [scores[INVALID_KEY] for _, scores in parts if scores.get(INVALID_KEY)]
    label = marked_label(label, {INVALID_KEY: invalid})
    if task.version_columns:
        row = _versions_row(task, spec, label, parts)
    else:
        row = _single_row(task, spec, label, parts[0])
    row.notes += [f"{label}: {invalid_line(mark)}" for mark in invalid]
    return row


def _single_row(task: Benchmark, spec: TableSpec, label: str, part: tuple[BenchmarkConfig, dict]) -> OurRow:
    row = OurRow(label, {})
    bench, scores = part
    row.values = {c.key: scores[c.key] for c in spec.columns
                  if isinstance(scores.get(c.key), (int, float)) and scores.get(f"n_{c.key}") != 0}
    ci = (scores.get("ci") or {}).get("overall")
    row.ci = tuple(ci) if ci else None
    row.notes = _protocol_notes(task, spec, label, bench, scores) + _exact_note(task, label, bench, scores)
    return row


def _exact_note(task: Benchmark, label: str, bench: BenchmarkConfig, scores: dict) -> list[str]:
    """Says so when the run's Overall interval is the exact small-n one (``report/small_n.py``), not a bootstrap."""
    if "overall" not in ((scores.get("ci") or {}).get("exact") or []):
        return []
    what = f"{bench.name} {bench.version}" if task.version_columns else bench.name
    return [f"{label}: the {what} Overall interval is exact (Clopper-Pearson, n = clusters): too few clusters, or "
            "no spread, for a bootstrap."]


def _versions_row(task: Benchmark, spec: TableSpec, label: str, parts: list[tuple[BenchmarkConfig, dict]]) -> OurRow:
    """Version columns filled from one run each; Overall = their mean, the interval combined as independent, each
    side on its own (an exact small-n interval is asymmetric: symmetric halves would cross 0 or 100)."""
    row = OurRow(label, {})
    columns = task.version_columns
    halves: list[tuple[float, float]] = []  # (score - lo, hi - score) per version
    for bench, scores in parts:
        column = columns.get(bench.version)
        if column is None or not isinstance(scores.get("overall"), (int, float)):
            raise ValueError(f"{label}: {spec.title} run without one of the versions {sorted(columns)} "
                             f"or without an overall score")
        row.values[column] = scores["overall"]
        ci = (scores.get("ci") or {}).get("overall")
        halves.append((scores["overall"] - ci[0], ci[1] - scores["overall"]) if ci else (math.nan, math.nan))
        row.notes += _protocol_notes(task, spec, label, bench, scores) + _exact_note(task, label, bench, scores)
    present = [row.values[c] for c in columns.values() if c in row.values]
    row.values["overall"] = sum(present) / len(present)
    if all(math.isfinite(h) for pair in halves for h in pair):
        below, above = (math.sqrt(sum(pair[i] ** 2 for pair in halves)) / len(halves) for i in (0, 1))
        row.ci = (row.values["overall"] - below, row.values["overall"] + above)
    if len(present) == 1:
        only = "v1.1" if "v1_1" in row.values else "v1.0"
        row.notes.append(f"{label}: Overall = {only} only (published Overall = mean of v1.1 and v1.0).")
    elif row.ci:
        row.notes.append(f"{label}: Overall interval combines the two versions' intervals as independent.")
    return row


def _fmt(value: float, decimals: int) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{decimals}f}"


def table_frame(spec: TableSpec, rows: list[OurRow]) -> pd.DataFrame:
    """Published + our rows, sorted by Overall (stable); scores ×100; columns ``ours``, ``ci_lo``, ``ci_hi``."""
    table = spec.load()
    table["ours"] = False
    table["ci_lo"] = math.nan
    table["ci_hi"] = math.nan
    ours = [
        {"model": r.label, "parameters": "-", "institution": "this run", "ours": True,
         **{c.key: 100 * r.values[c.key] if c.key in r.values else math.nan for c in spec.columns},
         "ci_lo": 100 * r.ci[0] if r.ci else math.nan, "ci_hi": 100 * r.ci[1] if r.ci else math.nan}
        for r in rows
    ]
    table = pd.concat([table, pd.DataFrame(ours)], ignore_index=True) if ours else table
    return table.sort_values("overall", ascending=False, kind="stable", na_position="last").reset_index(drop=True)


def _escape_latex(text: str) -> str:
    for char in ("&", "%", "_", "#"):
        text = text.replace(char, "\\" + char)
    return text


def render_table(spec: TableSpec, rows: list[OurRow], fmt: str = "md") -> str:
    """The table as markdown (README style), LaTeX (tabular), HTML or CSV (raw numbers); notes under it."""
    frame = table_frame(spec, rows)
    if fmt == "csv":
        keep = ["model", "parameters", "institution", *[c.key for c in spec.columns], "ours", "ci_lo", "ci_hi"]
        return frame[keep].to_csv(index=False)
    if fmt not in ("md", "latex", "html"):
        raise ValueError(f"unknown table format {fmt!r} (md, csv, latex, html)")
    text = {"latex": _escape_latex, "html": html.escape}.get(fmt, lambda s: s)
    bold = {"latex": lambda s: rf"\textbf{{{s}}}", "html": lambda s: f"<b>{s}</b>"}.get(fmt, lambda s: f"**{s}**")
    best = {c.key: frame[c.key].max() for c in spec.columns}
    has_ci = bool(frame["ours"].any())
    header = ["Models", "Parameters", "Institutions", *[c.header for c in spec.columns]]
    header += [CI_HEADER] if has_ci else []
    lines = []
    for _, r in frame.iterrows():
        cells = [text(str(r["model"])) + (MARK[fmt] if r["ours"] else ""), text(str(r["parameters"])),
                 text(str(r["institution"]))]
        for c in spec.columns:
            cell = _fmt(r[c.key], c.decimals)
            cells.append(bold(cell) if cell != "-" and round(r[c.key], c.decimals) == round(best[c.key], c.decimals)
                         else cell)
        if has_ci:
            ok = r["ours"] and math.isfinite(r["ci_lo"])
            cells.append(f"[{r['ci_lo']:.1f}, {r['ci_hi']:.1f}]" if ok else "-")
        lines.append(cells)
    notes = [n for r in rows for n in r.notes]
    if fmt == "latex":
        body = [" & ".join(map(_escape_latex, header)) + r" \\", r"\midrule"] + [" & ".join(c) + r" \\" for c in lines]
        cols = "lll" + "r" * (len(header) - 3)
        out = [rf"% {spec.title}", rf"\begin{{tabular}}{{{cols}}}", r"\toprule", *body, r"\bottomrule",
               r"\end{tabular}"]
        out += [f"% {_escape_latex(n)}" for n in notes]
        return "\n".join(out) + "\n"
    if fmt == "html":
        cls = [' class="ours"' if ours else "" for ours in frame["ours"]]
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        out = [f"<h3>{html.escape(spec.title)}</h3>", "<table>", f"<tr>{head}</tr>"]
        out += [f"<tr{c}>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>" for c, cells in zip(cls, lines)]
        out += ["</table>", "<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>"]
        return "\n".join(out) + "\n"
    align = ["---", ":---:", ":---:"] + [":---:"] * (len(header) - 3)
    out = [f"### {spec.title}", "", "| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    out += ["| " + " | ".join(c) + " |" for c in lines]
    if has_ci:
        out += ["", "★ our run(s); 95% CI: clustered bootstrap interval of our Overall."]
    if notes:
        out += ["", "Notes:"] + [f"- {n}" for n in notes]
    return "\n".join(out) + "\n"


def render_leaderboard(run_scores: dict, run_label: str, benchmark: BenchmarkConfig | dict, task: Benchmark,
                       fmt: str = "md") -> str:
    """``leaderboard.md`` of one run: its scores (with ``ci`` when present) among the published rows.

    ``benchmark`` needs name, kind, language, version, split, protocol, extractor, min/max_pixels; ``task`` is
    its benchmark object.
    """
    bench = benchmark_config(benchmark)
    spec = table_spec(task, bench)
    return render_table(spec, [our_row(task, spec, run_label, [(bench, run_scores)])], fmt)
