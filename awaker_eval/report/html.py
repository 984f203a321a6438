"""A static, self-contained HTML report of one run (or a comparison of runs): a page to read, not a dump.

Order is what a reader needs first: title and headline (each official aggregate with its 95% interval and n),
our run among the published rows (figure + table), the breakdowns (sorted, readable, with n), the figures
(their CSVs sit beside the report in ``plots/``), the failed and unparsable samples (raw output escaped), and
last the settings folded away in ``<details>``, once. Images are embedded as data URIs, so the page stands alone.
"""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path

import pandas as pd

from awaker_eval.models.self_checks import SelfCheckRecord, failure_line
from awaker_eval.redact import redact
from awaker_eval.report.browser import Browser, browser_link_html, browser_name, write_browser
from awaker_eval.report.leaderboard import our_row, render_table, table_frame, table_spec
from awaker_eval.report.figures import write_plots
from awaker_eval.report.plots import plot_leaderboard, readable_group
from awaker_eval.report.reproduction import verdict_text
from awaker_eval.report.runs import Run
from awaker_eval.report.small_n import MIN_CLUSTERS
from awaker_eval.run_validity import INVALID_KEY, MARK, invalid_line, marked_label
from awaker_eval.types import Prediction

NUMERIC = re.compile(r"^[\[\]\d.,+\- ]*\d[\[\]\d.,+\- ]*$")
MAX_SAMPLE_ROWS = 1000
MAX_OUTPUT_CHARS = 2000
STYLE = """body{font-family:system-ui,sans-serif;font-size:16px;margin:2em auto;max-width:72em;padding:0 1em;color:#222;
overflow-wrap:anywhere}
h1{margin-bottom:.2em} p.sub{color:#555;margin-top:0} table{border-collapse:collapse;margin:.6em 0 1.2em;max-width:100%}
td,th{border:1px solid #ccc;padding:3px 8px;font-size:90%;vertical-align:top;text-align:left;overflow-wrap:anywhere}
th{overflow-wrap:normal} td.num{text-align:right;font-variant-numeric:tabular-nums;overflow-wrap:normal}
tr.ours{background:#fff3c4} table.dataframe td:last-child{min-width:16em}
table.headline td,table.headline th{font-size:110%;padding:5px 10px} .verdict{font-weight:bold;font-size:110%}
.fail{color:#b00020} .pass{color:#1b5e20} .inconclusive{color:#8a5a00} td span{overflow-wrap:normal}
pre{white-space:pre-wrap;overflow-wrap:anywhere;margin:0;font-size:14px}
img{max-width:100%;height:auto} details{margin:1em 0} summary{cursor:pointer;font-weight:bold}"""


def breakdown_frame(run: Run, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05) -> pd.DataFrame:
    """``level, group, n, score, lo, hi`` (×100) for every aggregate of the run (the run's one interval table)."""
    table = run.intervals(n_boot=n_boot, seed=seed, alpha=alpha).table.copy()
    table[["score", "lo", "hi"]] = (100 * table[["score", "lo", "hi"]]).round(2)
    return table


def _image_id(p: Prediction) -> str:
    return str((p.extra or {}).get("image_key") or p.cluster or "")


def problem_samples(predictions: list[Prediction]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(failed, unparsable): failed = errored or no output; unparsable = output but no letter extracted."""
    def row(p: Prediction) -> dict:
        return {"id": p.id, "image": _image_id(p), "group": p.subtask or p.l2_category or "",
                "category": p.category or "", "answer": p.answer or "", "extracted": p.extracted,
                "error": p.error or "", "raw_output": (p.raw_output or "")[:MAX_OUTPUT_CHARS]}

    failed = [row(p) for p in predictions if p.error is not None or p.raw_output is None]
    unparsed = [row(p) for p in predictions
                if p.error is None and p.raw_output is not None and (not p.extracted or p.extract_method == "none")]
    columns = ["id", "image", "group", "category", "answer", "extracted", "error", "raw_output"]
    return pd.DataFrame(failed, columns=columns), pd.DataFrame(unparsed, columns=columns)


def esc(value: object) -> str:
    return html.escape(str(value))


def table_html(header: list[str], rows: list[list[str]], cls: str = "") -> str:
    """Cells are HTML already (escape text before); ``num`` cells are right-aligned."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(rows_cell(c) for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><tr>{head}</tr>{body}</table>'


def rows_cell(cell: str) -> str:
    """A table cell; numbers and intervals (``12.50``, ``[+1.0, -2.0]``, ``1,234``) are right-aligned."""
    return f'<td class="num">{cell}</td>' if NUMERIC.match(cell) else f"<td>{cell}</td>"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def _interval(ci: list | tuple | None, exact: bool = False) -> str:
    """A stored interval in percent; ``exact`` marks the small-n fallback (``report/small_n.py``)."""
    return "-" if not ci else f"[{100 * ci[0]:.2f}, {100 * ci[1]:.2f}]" + (" exact" if exact else "")


def headline_html(runs: list[tuple[str, Run, dict]]) -> str:
    """One row per run: every official aggregate with its 95% interval and n (``-`` for an empty group)."""
    kinds = {run.kind for _, run, _ in runs}
    heads = runs[0][1].bench.headline
    spec = heads if len(kinds) == 1 else (("Overall", "overall", "n"),)
    header = ["run"] + [h for name, _, _ in spec for h in (f"{name} %", "95% CI", "n")]
    rows = []
    for label, run, scores in runs:
        row = [esc(label)]
        for _, key, n_key in spec:
            n = scores.get(n_key)
            empty = n == 0 or not isinstance(scores.get(key), (int, float))
            ci = None if empty else (scores.get("ci") or {}).get(key)
            exact = key in ((scores.get("ci") or {}).get("exact") or [])
            row += ["-" if empty else _pct(scores[key]), _interval(ci, exact), esc("-" if n is None else f"{n:,}")]
        rows.append(row)
    return '<section id="headline">' + table_html(header, rows, "headline") + "</section>"


def _figure_html(png: Path, report_dir: Path, caption: str = "") -> str:
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    csv = png.with_suffix(".csv")
    link = csv.relative_to(report_dir) if csv.is_relative_to(report_dir) else csv
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{esc(caption or png.stem)}">'
            f"<figcaption>{esc(caption or png.stem)}: data in <a href=\"{esc(link)}\">{esc(csv.name)}</a>"
            f"</figcaption></figure>")


def leaderboard_html(runs: list[tuple[str, Run, dict]], plots_dir: Path | None, report_dir: Path) -> str:
    """Our run(s) among the published rows: the figure (points; ours with its interval), then the table."""
    first = runs[0][1]
    spec = table_spec(first.bench, first.benchmark)
    same = [(label, run, s) for label, run, s in runs
            if (run.kind, run.benchmark.language) == (spec.kind, spec.language)]
    rows = [our_row(run.bench, spec, label, [(run.benchmark, scores)]) for label, run, scores in same]
    if not spec.published:
        return (f"<h2>Leaderboard</h2><p>{esc(first.benchmark.name)} has no published leaderboard rows: our runs "
                "alone.</p>" + render_table(spec, rows, fmt="html"))
    parts = [f"<h2>Among the published {esc(spec.title)} results</h2>"]
    if plots_dir is not None:
        png = plot_leaderboard(table_frame(spec, rows), plots_dir / "leaderboard.png",
                               title=f"{spec.title}: Overall, published models and ours")
        parts.append(_figure_html(png, report_dir, "Overall of the published models (points) and ours (★, 95% "
                                                    "interval)"))
    parts.append(render_table(spec, rows, fmt="html"))
    parts.append(verdict_text(spec, [(label, run) for label, run, _ in same], fmt="html"))
    return "\n".join(parts)


def breakdowns_html(run: Run, n_boot: int, seed: int) -> str:
    """Per level, groups sorted by score (best first), readable names, n and interval."""
    table = breakdown_frame(run, n_boot=n_boot, seed=seed)
    noun = run.bench.cluster_meaning
    parts = ["<h2>Breakdowns</h2><p>All aggregates (%, 95% clustered bootstrap interval), each level sorted by "
             f"score. Aggregates of fewer than {MIN_CLUSTERS} {noun}s, or whose resamples are all equal, show the "
             f"exact (Clopper-Pearson) interval with n = their {noun}s instead: never a zero-width interval.</p>"]
    for level, part in table[table["level"] != "overall"].groupby("level", sort=False):
        part = part.sort_values(["score", "group"], ascending=[False, True], kind="stable")
        rows = [[esc(readable_group(level, r.group, run.bench)), esc(r.group), f"{int(r.n):,}", f"{r.score:.2f}",
                 f"[{r.lo:.2f}, {r.hi:.2f}]", esc(_method_cell(r.method, r.clusters, noun))]
                for r in part.itertuples()]
        parts.append(f"<h3>{esc(level.replace('_', ' '))}</h3>"
                     + table_html(["group", "key", "n", "score %", "95% CI", "interval"], rows))
    return "\n".join(parts)


def _method_cell(method: str, clusters: int, noun: str) -> str:
    """How a breakdown row's interval was made: ``bootstrap`` or ``exact, n=3 images``."""
    return f"exact, n={clusters:,} {noun}{'s' if clusters != 1 else ''}" if method == "exact" else method


def samples_html(title: str, frame: pd.DataFrame) -> str:
    head = f"<h2>{esc(title)} ({len(frame)})</h2>"
    if frame.empty:
        return head + "<p>none</p>"
    shown = frame.head(MAX_SAMPLE_ROWS).copy()
    shown["raw_output"] = [f"<pre>{html.escape(t)}</pre>" for t in shown["raw_output"]]
    for col in shown.columns.drop("raw_output"):
        shown[col] = shown[col].astype(str).map(html.escape)
    more = f"<p>first {MAX_SAMPLE_ROWS} of {len(frame)} shown</p>" if len(frame) > MAX_SAMPLE_ROWS else ""
    return head + more + shown.to_html(index=False, escape=False)


def _data_warnings_html(data_warnings: dict | None) -> str:
    """Rows the data loader accepted because upstream does (``data_warnings`` of run.json), by kind."""
    head = "<h2>Data warnings (rows upstream accepts)</h2>"
    if not data_warnings:
        return head + "<p>none</p>"
    frame = pd.DataFrame([{"kind": kind, "count": w["count"], "ids": ", ".join(map(str, w.get("ids", [])[:50])),
                           "what upstream does": w.get("upstream", "")} for kind, w in sorted(data_warnings.items())])
    return head + frame.to_html(index=False)


def invalid_html(scores: dict) -> str:
    """The reason an invalid run's numbers do not stand (``run_validity``), first on the page; empty otherwise."""
    mark = scores.get(INVALID_KEY)
    if not mark:
        return ""
    return (f'<section id="invalid" class="fail"><h2>{MARK} RESULT: these numbers do not stand</h2>'
            f"<p>{esc(invalid_line(mark))}</p></section>")


def warnings_html(run: Run) -> str:
    """What the reader must know before trusting the numbers (scores recomputed from the predictions, numbers that
    cannot be checked): loud, at the top; empty when there is nothing to say."""
    if not run.warnings:
        return ""
    items = "".join(f"<li>{esc(w)}</li>" for w in run.warnings)
    return f'<section id="warnings" class="fail"><h2>Warnings</h2><ul>{items}</ul></section>'


def self_checks_html(meta: dict | None) -> str:
    """One line per fast path that its run-start self-check switched off (``engine.self_checks`` of run.json), or
    one line saying the checks were off; nothing when every enabled path passed."""
    records = ((meta or {}).get("engine") or {}).get("self_checks") or []
    lines = [failure_line(SelfCheckRecord(**r)) for r in records if r.get("fallback")]
    if records and all(r.get("verdict") == "off" for r in records):
        lines.append("runner.self_check=off: the fast paths ran without their run-start checks")
    if not lines:
        return ""
    items = "".join(f"<li>{esc(line)}</li>" for line in lines)
    return f'<section id="self-checks" class="fail"><h2>Fast paths</h2><ul>{items}</ul></section>'


def settings_html(runs: list[Run]) -> str:
    """Each run's resolved config and run.json, folded away (written once)."""
    parts = []
    for run in runs:
        settings = {"run directory": str(run.path), "label": run.label, "config": _public(run.config),
                    "run.json": _public(run.meta)}
        parts.append(f"<details><summary>Settings of {esc(run.label)} ({esc(run.path)})</summary>"
                     f"<pre>{esc(json.dumps(settings, indent=2, default=str))}</pre></details>")
    return "\n".join(parts)


def _public(tree: object) -> object:
    """The settings without anything that names a key or token (their environment-variable names stay)."""
    if isinstance(tree, dict):
        return {k: _public(v) for k, v in tree.items()
                if not (("key" in str(k).lower() or "token" in str(k).lower()) and not str(k).endswith("_env"))}
    if isinstance(tree, list):
        return [_public(v) for v in tree]
    return tree


def page(title: str, subtitle: str, body: list[str]) -> str:
    return "\n".join([f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{esc(title)}</title>"
                      f"<style>{STYLE}</style></head><body>", f"<h1>{esc(title)}</h1>",
                      f'<p class="sub">{esc(subtitle)}</p>', *body, "</body></html>"])


def _subtitle(run: Run) -> str:
    b = run.benchmark
    return (f"{run.path} · {b.split} split · protocol {b.protocol} · extractor {b.extractor} · "
            f"mode {(run.config.get('runner') or {}).get('mode', 'generate')}")


def render_report(run: Run, figures: list[Path], report_dir: Path, n_boot: int = 1000, seed: int = 0,
                  plots_dir: Path | None = None, browser: Browser | None = None) -> str:
    """The report page of one run as one HTML string (``browser``: its sample browser, linked under the
    headline)."""
    scores = run.scores_with_ci(n_boot=n_boot, seed=seed)
    title = f"{marked_label(run.label, scores)} on {table_spec(run.bench, run.benchmark).title} ({run.benchmark.name})"
    body = [invalid_html(scores), warnings_html(run), self_checks_html(run.meta)]
    if run.scored:
        body += [headline_html([(marked_label(run.label, scores), run, scores)]),
                 browser_link_html(browser, report_dir) if browser is not None else "",
                 leaderboard_html([(run.label, run, scores)], plots_dir, report_dir),
                 breakdowns_html(run, n_boot, seed)]
    else:
        body.append('<section id="headline"><p>No score: the answers are hidden (MMBench TEST); submit with '
                    "<code>awaker-eval export-submission</code>.</p></section>")
        body.append(browser_link_html(browser, report_dir) if browser is not None else "")
    if figures:
        body += ["<h2>Figures</h2>"] + [_figure_html(png, report_dir) for png in figures]
    body.append(_data_warnings_html((run.meta or {}).get("data_warnings")))
    failed, unparsed = problem_samples(run.predictions())
    body += [samples_html("Failed samples", failed), samples_html("Unparsable outputs", unparsed),
             "<h2>Settings</h2>", settings_html([run])]
    return page(title, _subtitle(run), body)


def write_report(run: Run, out: Path | None = None, n_boot: int = 1000, seed: int = 0, plots: bool = True,
                 samples: list | None = None) -> Path:
    """Write ``report.html`` (default: in the run directory) with its figures' CSVs under ``plots/`` and its
    sample browser (``samples.html``; ``samples``: the run's samples in memory, for the thumbnails)."""
    out = Path(out) if out else run.path / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    plots_dir = out.parent / "plots" if plots else None
    figures = write_plots([run], plots_dir, n_boot=n_boot, seed=seed) if plots else []
    browser = write_browser(run, out.parent, samples, name=browser_name(out), report_href=out.name)
    out.write_text(render_report(run, figures, out.parent, n_boot=n_boot, seed=seed, plots_dir=plots_dir,
                                 browser=browser), encoding="utf-8")
    return out
