"""A static, self-contained HTML report of one run directory (no server; images embedded as data URIs).

Sections: run settings, the leaderboard with our row, every aggregate with its 95% interval, the figures
(their CSVs sit beside the report in ``plots/``), and the failed and unparsable samples with image ids and raw
outputs, so a reader can see *why* a number is what it is.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import pandas as pd

from awaker_eval.redact import redact
from awaker_eval.report.groups import breakdown_masks
from awaker_eval.report.leaderboard import render_leaderboard
from awaker_eval.report.runs import Run
from awaker_eval.report.stats import bootstrap_intervals
from awaker_eval.types import Prediction

MAX_SAMPLE_ROWS = 1000
MAX_OUTPUT_CHARS = 2000
STYLE = """body{font-family:sans-serif;margin:2em;max-width:80em} table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:2px 6px;font-size:90%;vertical-align:top} tr.ours{background:#fff3c4}
pre{white-space:pre-wrap;margin:0;font-size:85%} img{max-width:100%}"""


def breakdown_frame(run: Run, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05) -> pd.DataFrame:
    """``level, group, n, score, lo, hi`` (×100) for every aggregate of the run."""
    units = run.units()
    masks = breakdown_masks(units, run.kind)
    groups = {f"{lvl}\x1f{name}": m for lvl, name, m in masks}
    table = bootstrap_intervals(units["correct"].to_numpy(), units["cluster"].to_numpy(), groups,
                                n_boot=n_boot, seed=seed, alpha=alpha)
    table[["score", "lo", "hi"]] = (100 * table[["score", "lo", "hi"]]).round(2)
    table.insert(0, "level", [lvl for lvl, _, _ in masks])
    table["group"] = [name for _, name, _ in masks]
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


def _samples_html(title: str, frame: pd.DataFrame) -> str:
    head = f"<h2>{html.escape(title)} ({len(frame)})</h2>"
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


def _figure_html(png: Path, report_dir: Path) -> str:
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    csv = png.with_suffix(".csv")
    link = csv.relative_to(report_dir) if csv.is_relative_to(report_dir) else csv
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(png.stem)}">'
            f'<figcaption>{html.escape(png.stem)}: data in <a href="{html.escape(str(link))}">'
            f"{html.escape(csv.name)}</a></figcaption></figure>")


def render_report(run: Run, figures: list[Path], report_dir: Path, n_boot: int = 1000, seed: int = 0) -> str:
    """The report page as one HTML string."""
    preds = run.predictions()
    bench = run.benchmark
    settings = {"run directory": str(run.path), "label": run.label, "benchmark": bench.__dict__,
                "model": {k: v for k, v in run.model.items() if "key" not in k.lower()}}
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(run.label)} on "
             f"{html.escape(bench.name)}</title><style>{STYLE}</style></head><body>",
             f"<h1>{html.escape(run.label)} on {html.escape(bench.name)}</h1>",
             f"<h2>Settings</h2><pre>{html.escape(json.dumps(redact(settings), indent=2, default=str))}</pre>"]
    scores = run.scores_with_ci(n_boot=n_boot, seed=seed)
    if run.scored:
        parts.append("<h2>Leaderboard</h2>" + render_leaderboard(scores, run.label, bench, fmt="html"))
        table = breakdown_frame(run, n_boot=n_boot, seed=seed)
        parts.append("<h2>All aggregates (%, 95% clustered bootstrap interval)</h2>" + table.to_html(index=False))
    parts.append(_data_warnings_html((run.meta or {}).get("data_warnings")))
    parts += [_figure_html(png, report_dir) for png in figures]
    failed, unparsed = problem_samples(preds)
    parts += [_samples_html("Failed samples", failed), _samples_html("Unparsable outputs", unparsed)]
    if run.meta:
        parts.append(f"<h2>run.json</h2><pre>{html.escape(json.dumps(redact(run.meta), indent=2, default=str))}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(run: Run, out: Path | None = None, n_boot: int = 1000, seed: int = 0, plots: bool = True) -> Path:
    """Write ``report.html`` (default: in the run directory) with its figures' CSVs under ``plots/``."""
    from awaker_eval.report.plots_cli import write_plots

    out = Path(out) if out else run.path / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    figures = write_plots([run], out.parent / "plots", n_boot=n_boot, seed=seed) if plots else []
    out.write_text(render_report(run, figures, out.parent, n_boot=n_boot, seed=seed), encoding="utf-8")
    return out
