"""Flipped units side by side: what each model said on every unit one got right and the other wrong.

``flips_with_outputs`` adds both runs' letters and raw outputs to ``compare.flipped_units`` (``flips.csv`` of
``awaker-eval compare --out``); ``flips_html`` lists the flips on the comparison page, right -> wrong first, each
with the image thumbnail, the prompt and both outputs. Thumbnails come from the runs' own ``thumbs/`` (written
with their reports); the prompt is rebuilt and checked as the sample browser does (``sample_media``).
"""

from __future__ import annotations

import html
from collections import defaultdict
from pathlib import Path

import pandas as pd

from awaker_eval.report.browser import BROWSER_FILE, sample_status
from awaker_eval.report.plots import readable_group
from awaker_eval.report.runs import Run
from awaker_eval.report.sample_media import (EXACT, PROMPT_NOTES, SampleMedia, exact_prompt, load_media,
                                             relative_url)
from awaker_eval.tasks.base import Benchmark
from awaker_eval.types import Prediction

CHANGE_WORDS = {"broken": "right → wrong", "fixed": "wrong → right"}
MAX_FLIP_OUTPUT = 4000  # characters of each output shown on the page (the CSV keeps them whole)
FLIP_STYLE = """<style>
.flip{border:1px solid #ddd;border-left-width:6px;border-radius:6px;padding:.5em .7em;margin:.6em 0}
.flip.broken{border-left-color:#b00020} .flip.fixed{border-left-color:#1b5e20}
.flip-head{display:flex;flex-wrap:wrap;gap:.3em .8em;align-items:baseline}
.flip-sample{display:grid;grid-template-columns:136px minmax(0,1fr);gap:.8em;margin-top:.5em}
.flip-sample .thumb{width:132px;max-height:132px;object-fit:contain;background:#eee}
.flip-sample .noimg{width:132px;padding:1em .3em;background:#f0f0f0;color:#777;font-size:85%;text-align:center}
.flip pre.prompt{max-height:14em;overflow:auto;background:#f7f7f9;border:1px solid #e4e4e8;padding:.4em}
.flip table{width:100%;margin:.4em 0} .flip td.letter{width:5em;text-align:center;font-weight:bold}
.flip th.who{width:12em} .flip small{color:#666}
</style>"""


def unit_samples(run: Run) -> dict[str, list[Prediction]]:
    """Scoring unit -> its predictions (MMBench: every circular pass of a question; else the item itself)."""
    by_group: dict[str, list[Prediction]] = defaultdict(list)
    for p in run.predictions():
        by_group[str(p.group if p.group is not None else p.id)].append(p)
    by_id = {p.id: [p] for p in run.predictions()}
    return {**by_id, **by_group}


def _ordered(flips: pd.DataFrame) -> pd.DataFrame:
    """Right -> wrong first, then wrong -> right, each in the runs' order."""
    rank = flips["change"].map({"broken": 0, "fixed": 1})
    return flips.assign(_rank=rank).sort_values("_rank", kind="stable").drop(columns="_rank").reset_index(drop=True)


def _joined(preds: list[Prediction], value) -> str:
    """One sample: its value; several (circular passes): ``id: value`` per line."""
    if len(preds) == 1:
        return value(preds[0])
    return "\n".join(f"{p.id}: {value(p)}" for p in preds)


def flips_with_outputs(flips: pd.DataFrame, base: Run, new: Run) -> pd.DataFrame:
    """``flipped_units`` plus ``answer``, ``base_letter``, ``new_letter``, ``base_output``, ``new_output`` (raw
    outputs whole; a failed sample's error in their place), right -> wrong first."""
    flips = _ordered(flips)
    units_a, units_b = unit_samples(base), unit_samples(new)
    out = flips.copy()
    columns = {"answer": [], "base_letter": [], "new_letter": [], "base_output": [], "new_output": []}
    for unit in flips["unit"].astype(str):
        a, b = units_a.get(unit, []), units_b.get(unit, [])
        columns["answer"].append(_joined(a, lambda p: p.answer or ""))
        columns["base_letter"].append(_joined(a, lambda p: p.extracted or ""))
        columns["new_letter"].append(_joined(b, lambda p: p.extracted or ""))
        columns["base_output"].append(_joined(a, _output_text))
        columns["new_output"].append(_joined(b, _output_text))
    for name, values in columns.items():
        out[name] = values
    return out


def _output_text(p: Prediction) -> str:
    return f"[failed: {p.error}]" if p.raw_output is None else p.raw_output


def _media(run: Run) -> SampleMedia:
    return load_media(run.path) or SampleMedia(run.path)


def _levels(row: pd.Series, bench: Benchmark) -> str:
    names = []
    for level in ("split", "subtask", "l2_category", "category"):
        value = row.get(level)
        missing = value is None or (isinstance(value, float) and value != value)
        if not missing and str(value) not in ("", "all", "None", "nan"):
            names.append(readable_group(level, str(value), bench))
    return " · ".join(dict.fromkeys(names))


def _output_cell(p: Prediction | None) -> tuple[str, str]:
    if p is None:
        return "-", "<i>not in this run</i>"
    text = _output_text(p)
    cut = f" <small>(first {MAX_FLIP_OUTPUT:,} characters)</small>" if len(text) > MAX_FLIP_OUTPUT else ""
    return (html.escape(p.extracted or "(none)"),
            f"<pre>{html.escape(text[:MAX_FLIP_OUTPUT])}</pre>{cut}<small>{html.escape(sample_status(p))}</small>")


def _sample_html(p: Prediction, other: Prediction | None, labels: tuple[str, str], base: Run, media: SampleMedia,
                 report_dir: Path, browser: str | None) -> str:
    thumb = media.thumb(p)
    image = (f'<img class="thumb" loading="lazy" src="{html.escape(relative_url(thumb, report_dir))}" '
             f'alt="image of {html.escape(p.id)}">' if thumb is not None and thumb.is_file()
             else '<div class="noimg">no thumbnail</div>')
    text, status = exact_prompt(p, base.bench, base.benchmark.language, base.benchmark.protocol, media)
    note = "" if status == EXACT else f' <small class="inconclusive">({html.escape(PROMPT_NOTES[status])})</small>'
    name = html.escape(p.id)
    if browser:
        name = f'<a href="{html.escape(browser)}#open={html.escape(p.id)}">{name}</a>'
    rows = []
    for who, q in zip(labels, (p, other)):
        letter, output = _output_cell(q)
        rows.append(f'<tr><th class="who">{html.escape(who)}</th><td class="letter">{letter}</td><td>{output}</td>'
                    "</tr>")
    return (f'<div class="flip-sample">{image}<div><div>{name} · answer <b>{html.escape(p.answer or "-")}</b>'
            f'</div><div>prompt{note}</div><pre class="prompt">{html.escape(text)}</pre>'
            f'<table class="flip-outputs"><tr><th>run</th><th>letter</th><th>raw output</th></tr>{"".join(rows)}'
            "</table></div></div>")


def flips_html(flips: pd.DataFrame, base: tuple[str, Run], new: tuple[str, Run], report_dir: Path) -> str:
    """Every flipped unit of ``new`` against ``base``, right -> wrong first, with image, prompt, both outputs."""
    (base_label, base_run), (new_label, new_run) = base, new
    flips = _ordered(flips)
    n_broken, n_fixed = int((flips["change"] == "broken").sum()), int((flips["change"] == "fixed").sum())
    head = (f'<section class="flips"><h4>Flipped units: {n_broken:,} right → wrong, {n_fixed:,} wrong → right</h4>')
    if flips.empty:
        return head + "<p>none: both runs are right and wrong on the same units.</p></section>"
    media = _media(base_run)
    if not media.images:  # the base run's report predates thumbnails: the new run's images are the same ones
        media = _media(new_run)
    page = base_run.path / BROWSER_FILE
    browser = relative_url(page, report_dir) if page.is_file() else None
    units_a, units_b = unit_samples(base_run), unit_samples(new_run)
    parts = [FLIP_STYLE, head]
    for _, row in flips.iterrows():
        unit, change = str(row["unit"]), str(row["change"])
        samples = units_a.get(unit, [])
        others = {p.id: p for p in units_b.get(unit, [])}
        body = "".join(_sample_html(p, others.get(p.id), (f"{base_label} (base)", new_label), base_run, media,
                                    report_dir, browser) for p in samples)
        tone = "fail" if change == "broken" else "pass"
        parts.append(f'<article class="flip {html.escape(change)}" data-unit="{html.escape(unit)}">'
                     f'<div class="flip-head"><b>{html.escape(unit)}</b><span class="{tone}">'
                     f"{CHANGE_WORDS.get(change, change)}</span><span>{html.escape(_levels(row, base_run.bench))}</span>"
                     f"</div>{body}</article>")
    return "\n".join(parts) + "</section>"
