"""The ``explain --out`` page: the waterfall from A to B, each knob's contribution with its interval and the units
it flipped, and every configuration's run directory."""

from __future__ import annotations

import html
from pathlib import Path

from awaker_eval.report.explain_figures import plot_waterfall, waterfall_data

STYLE = ("body{font-family:system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em;color:#222}"
         "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}"
         "img{max-width:100%}.ids{font-family:monospace;font-size:.85em}")
SHOWN_IDS = 50  # flipped unit ids listed per knob and direction


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _ids(ids: list[str]) -> str:
    more = f" ... and {len(ids) - SHOWN_IDS} more" if len(ids) > SHOWN_IDS else ""
    return html.escape(", ".join(ids[:SHOWN_IDS]) + more) or "none"


def contributions_html(report: dict, group: str = "Overall") -> str:
    """One aggregate's table: knob, A's and B's values, contribution with interval, units fixed / broken."""
    rows = [[knob, repr(report["knobs"][knob][0]), repr(report["knobs"][knob][1]),
             f"{value:+.2f}", f"[{report['intervals'][knob][0]:+.2f}, {report['intervals'][knob][1]:+.2f}]",
             str(report["flips"][knob]["fixed"]), str(report["flips"][knob]["broken"])]
            for knob, value in report["contributions"].items()]
    rows.append(["total (B - A)", "", "", f"{report['total']:+.2f}",
                 f"[{report['total_interval'][0]:+.2f}, {report['total_interval'][1]:+.2f}]", "", ""])
    return f"<h2>{html.escape(group)}</h2>" + _table(
        ["knob", "A", "B", "contribution (pts)", "95% interval", "units fixed", "units broken"], rows)


def write_explain_page(report: dict, flipped: dict[str, dict[str, list[str]]], out: Path) -> Path:
    """Write the page (``out``) with its waterfall figure and CSV under ``<out stem>_files/``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    figure_dir = out.parent / f"{out.stem}_files"
    data = waterfall_data(report["scores"]["A"], report["contributions"], report["intervals"], report["scores"]["B"])
    png = plot_waterfall(data, figure_dir / "waterfall.png", f"Overall: A {report['scores']['A']:.2f} -> "
                                                              f"B {report['scores']['B']:.2f}")
    parts = [f"<p>Method: {html.escape(report['method'])} Shapley values over {len(report['runs'])} "
             f"configurations, {report['units']} units; contributions sum to B - A.</p>",
             f"<img src='{html.escape(png.relative_to(out.parent).as_posix())}' alt='waterfall from A to B'>",
             contributions_html(report)]
    for name, split in report["splits"].items():
        rows = [[k, f"{v:+.2f}", f"[{split['intervals'][k][0]:+.2f}, {split['intervals'][k][1]:+.2f}]"]
                for k, v in split["contributions"].items()]
        parts.append(f"<h2>{html.escape(name)} (total {split['total']:+.2f})</h2>"
                     + _table(["knob", "contribution (pts)", "95% interval"], rows))
    parts.append("<h2>Units each knob flipped (Overall)</h2>")
    for knob, ids in flipped.items():
        parts.append(f"<h3>{html.escape(knob)}</h3><p>fixed ({len(ids['fixed'])}): <span class='ids'>"
                     f"{_ids(ids['fixed'])}</span></p><p>broken ({len(ids['broken'])}): <span class='ids'>"
                     f"{_ids(ids['broken'])}</span></p>")
    parts.append("<h2>Configurations</h2><ul>" + "".join(f"<li>{html.escape(r)}</li>" for r in report["runs"])
                 + "</ul>")
    out.write_text("<!DOCTYPE html><html><head><meta charset='utf-8'><title>Explaining the gap</title>"
                   f"<style>{STYLE}</style></head><body><h1>Explaining the gap: A -> B</h1>"
                   + "\n".join(parts) + "</body></html>", encoding="utf-8")
    return out
