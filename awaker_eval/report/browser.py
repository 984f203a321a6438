"""The sample browser: every sample of a run on one static page (``samples.html`` beside ``report.html``).

Each sample shows its image (a thumbnail, ``sample_media``), the exact prompt text, the raw output, the
extracted letter and how it was extracted, the answer, the outcome (correct / wrong / unparsable / failed, as
the report counts them) and, for Awaker, the expert routing. Filters: outcome and each aggregate level of the
benchmark (MME-RealWorld task / subtask / category; MMBench L2 / L3 ability), plus a search over ids and text.

Files: ``samples.html`` (page shell, stylesheet and script), ``samples_data.js`` (every sample as one JSON
object, loaded by a ``<script>`` tag, so the page works from ``file://``), ``samples_routing/NNNN.js`` (the routing
records, ``ROUTING_CHUNK`` samples a file, loaded when a sample with routing is opened) and the run's
``thumbs/``. Prompt lines that many
samples share (the instruction, common option lines) are stored once (``lines``) and joined back exactly.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

from awaker_eval.atomic_io import write_text_atomic
from awaker_eval.report.browser_assets import CSS, JS, PAGE_SIZE
from awaker_eval.report.plots import readable_group
from awaker_eval.report.runs import Run
from awaker_eval.report.sample_media import (PROMPT_NOTES, SampleMedia, exact_prompt, image_key, relative_url,
                                             run_media)
from awaker_eval.types import Prediction, Sample

BROWSER_NAME = "samples"  # samples.html, samples_data.js, samples_routing/ (another report name: NAME_samples...)
BROWSER_FILE = f"{BROWSER_NAME}.html"
DATA_FILE = f"{BROWSER_NAME}_data.js"
ROUTING_DIR = f"{BROWSER_NAME}_routing"
ROUTING_CHUNK = 500  # routed samples per routing file
STATUSES = ("correct", "wrong", "unparsable", "failed", "hidden")
MAX_OUTPUT_CHARS = 20_000  # per sample in the page; longer outputs are cut (and say so)
MIN_SHARED_LINE = 8  # prompt lines at least this long, met at least twice, are stored once


def sample_status(p: Prediction) -> str:
    """``failed`` (errored or no output), ``unparsable`` (no letter), else ``correct`` / ``wrong`` (``hidden``
    when the answer is not known): the report's failed and unparsable tables use the same rules."""
    if p.error is not None or p.raw_output is None:
        return "failed"
    if not p.extracted or p.extract_method == "none":
        return "unparsable"
    if p.correct is None:
        return "hidden"
    return "correct" if p.correct else "wrong"


def _label_table(run: Run, predictions: Sequence[Prediction]) -> tuple[pd.DataFrame, list[int | None]]:
    """The table the benchmark names its groups from (the run's unit table when it is scored) and the row of
    each prediction in it."""
    units = None
    if run.scored:
        try:
            units = run.units()
        except ValueError:
            units = None
    if units is None:
        frame = pd.DataFrame({"split": [p.task for p in predictions], "subtask": [p.subtask for p in predictions],
                              "category": [p.category for p in predictions],
                              "l2_category": [p.l2_category for p in predictions]})
        return frame, list(range(len(predictions)))
    index = {str(u): i for i, u in enumerate(units["unit"])}
    by_id = len(units) == len(predictions)
    return units, [index.get(p.id if by_id else str(p.group)) for p in predictions]


def sample_levels(run: Run, predictions: Sequence[Prediction]) -> tuple[list[dict], list[list[int]]]:
    """Every aggregate level with its groups (raw key, readable name, number of samples) and, per sample, the
    index of its group at each level (-1: none)."""
    bench = run.bench
    table, rows = _label_table(run, predictions)
    levels, per_sample = [], [[] for _ in predictions]
    for level in bench.levels:
        if level.key == "overall":
            continue
        try:
            labels = bench.level_labels(table, level.key)
        except (KeyError, AttributeError, TypeError):
            continue
        labels = labels.tolist()
        values = [None if r is None else labels[r] for r in rows]
        values = [None if v is None or (isinstance(v, float) and v != v) or str(v) in ("", "None", "nan")
                  else str(v) for v in values]
        counts = Counter(v for v in values if v is not None)
        if not counts:
            continue
        groups = sorted(counts)
        where = {g: i for i, g in enumerate(groups)}
        levels.append({"key": level.key, "label": level.label, "groups": groups,
                       "names": [readable_group(level.key, g, run.bench) for g in groups],
                       "counts": [counts[g] for g in groups]})
        for slot, value in zip(per_sample, values):
            slot.append(-1 if value is None else where[value])
    return levels, per_sample


def shared_lines(prompts: Sequence[str]) -> tuple[list[str], list[object]]:
    """(lines stored once, each prompt as itself or as a list of line indices and literal lines); joining a
    list's lines with newlines gives the prompt back exactly."""
    counts = Counter(line for text in prompts for line in text.split("\n") if len(line) >= MIN_SHARED_LINE)
    table = [line for line, n in counts.items() if n >= 2]
    where = {line: i for i, line in enumerate(table)}
    encoded: list[object] = []
    for text in prompts:
        parts = text.split("\n")
        if any(part in where for part in parts):
            encoded.append([where.get(part, part) for part in parts])
        else:
            encoded.append(text)
    return table, encoded


def compact_routing(record: dict | None) -> list | None:
    """``[mode, routers, {phase: [experts, probabilities]}]`` with the per-layer, per-router values flattened
    (layer-major): experts as a digit string when every expert is below 10, probabilities in whole percent; None
    without a routing record."""
    if not isinstance(record, dict):
        return None
    phases = {}
    for phase in ("prefill", "decode"):
        part = record.get(phase)
        if not isinstance(part, dict) or part.get("expert") is None:
            continue
        experts = [e for layer in part["expert"] for e in layer]
        try:
            small = not experts or (min(experts) >= 0 and max(experts) < 10 and all(type(e) is int for e in experts))
        except TypeError:
            small = False
        probs = part.get("p")
        if probs is not None:
            probs = [None if x is None else int(100 * x + 0.5) for layer in probs for x in layer]
        phases[phase] = ["".join(map(str, experts)) if small else experts, probs]
    if not phases:
        return None
    return [record.get("mode"), list(record.get("routers") or []), phases]


@dataclass(frozen=True)
class Browser:
    """A written sample browser: its page and the outcome counts (for the report's link)."""

    path: Path
    n: int
    counts: dict[str, int]


def browser_data(run: Run, predictions: Sequence[Prediction], media: SampleMedia, page_dir: Path,
                 routing_dir: str = ROUTING_DIR) -> tuple[dict, list]:
    """(the page's data, the routing records it loads on demand)."""
    bench = run.benchmark
    levels, level_rows = sample_levels(run, predictions)
    language, protocol = bench.language, bench.protocol
    prompts = [exact_prompt(p, run.bench, language, protocol, media) for p in predictions]
    lines, encoded = shared_lines([text for text, _ in prompts])
    routing: list = []
    rows = []
    for p, lv, (_, pstatus), prompt in zip(predictions, level_rows, prompts, encoded):
        thumb = media.thumb(p)
        url = relative_url(thumb, page_dir) if thumb is not None and thumb.is_file() else None
        route = compact_routing(p.routing)
        if route is not None:
            routing.append(route)
        output = p.raw_output
        cut = output is not None and len(output) > MAX_OUTPUT_CHARS
        unit = str(p.group) if p.group is not None and str(p.group) != p.id else None
        original = media.original(p)
        rows.append([p.id, sample_status(p), lv, prompt, pstatus, output[:MAX_OUTPUT_CHARS] if cut else output,
                     p.error or "", p.extracted or "", p.extract_method, p.answer or "", url,
                     len(routing) - 1 if route is not None else -1, image_key(p), unit, int(cut),
                     original.as_uri() if original is not None else None])
    counts = Counter(row[1] for row in rows)
    data = {"version": 1, "run": run.label, "kind": run.kind, "benchmark": bench.name, "extractor": bench.extractor,
            "protocol": bench.protocol, "page_size": PAGE_SIZE, "max_output": MAX_OUTPUT_CHARS,
            "statuses": list(STATUSES), "status_counts": {s: counts.get(s, 0) for s in STATUSES},
            "prompt_notes": PROMPT_NOTES, "levels": levels, "lines": lines, "rows": rows,
            "routing_dir": routing_dir if routing else None, "routing_chunk": ROUTING_CHUNK}
    return data, routing


def _script(name: str, value: object) -> str:
    """``window.NAME = <JSON>;``: a sidecar a ``<script>`` tag loads from file:// (fetch would be refused)."""
    return f"window.{name} = {json.dumps(value, ensure_ascii=False, separators=(',', ':'))};\n"


def _write(path: Path, text: str) -> None:
    # lone surrogates (undecodable model output) stay \\uXXXX escapes inside their JSON strings
    write_text_atomic(path, text.encode("utf-8", "backslashreplace").decode("utf-8"))


def write_routing(folder: Path, routing: list) -> None:
    """``folder/NNNN.js``: routed samples ``NNNN * ROUTING_CHUNK`` on, each file adding itself to
    ``window.SAMPLE_ROUTING``; files of an earlier, longer run are removed."""
    wanted = set()
    if routing:
        folder.mkdir(parents=True, exist_ok=True)
    for k, start in enumerate(range(0, len(routing), ROUTING_CHUNK)):
        name = f"{k:04d}.js"
        wanted.add(name)
        chunk = json.dumps(routing[start:start + ROUTING_CHUNK], ensure_ascii=False, separators=(",", ":"))
        _write(folder / name, f"(window.SAMPLE_ROUTING = window.SAMPLE_ROUTING || {{}})[{k}] = {chunk};\n")
    if folder.is_dir():
        for old in folder.glob("*.js"):
            if old.name not in wanted:
                old.unlink()


def browser_page(run: Run, data: dict, data_file: str = DATA_FILE, report_href: str = "report.html") -> str:
    title = f"Samples: {run.label} on {run.benchmark.name}"
    counts = ", ".join(f"{data['status_counts'][s]} {s}" for s in STATUSES if data["status_counts"][s])
    e = html.escape
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{e(title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{e(title)}</h1>"
            f"<p class='sub'>{e(str(run.path))} · {len(data['rows']):,} samples ({e(counts)}) · protocol "
            f"{e(bench_protocol(run))} · <a href='{e(report_href)}'>report</a></p>"
            "<noscript><p class='warn'>This page needs JavaScript to list the samples.</p></noscript>"
            "<div id='controls'></div><p id='summary'><span id='count'></span><span></span></p>"
            f"<div id='list'></div><script src='{e(data_file)}'></script><script>{JS}</script></body></html>")


def bench_protocol(run: Run) -> str:
    return f"{run.benchmark.protocol}, extractor {run.benchmark.extractor}"


def browser_name(report: Path) -> str:
    """``samples`` beside ``report.html``; ``NAME_samples`` beside another report name (two reports written into
    one folder with ``--out`` keep their own browsers)."""
    return BROWSER_NAME if report.name == "report.html" else f"{report.stem}_{BROWSER_NAME}"


def write_browser(run: Run, page_dir: Path | None = None, samples: Sequence[Sample] | None = None,
                  name: str = BROWSER_NAME, report_href: str = "report.html") -> Browser:
    """Write the browser (``NAME.html``, ``NAME_data.js``, ``NAME_routing/``) into ``page_dir`` (default: the run
    directory); thumbnails go to the run's ``thumbs/``. ``samples``: the run's samples in memory (the pipeline),
    for thumbnails without loading the data again."""
    page_dir = Path(page_dir or run.path)
    page_dir.mkdir(parents=True, exist_ok=True)
    predictions = run.predictions()
    media = run_media(run.path, run.bench, run.config, predictions, samples)
    data_file, routing_dir = f"{name}_data.js", f"{name}_routing"
    data, routing = browser_data(run, predictions, media, page_dir, routing_dir)
    _write(page_dir / data_file, _script("SAMPLE_DATA", data))
    write_routing(page_dir / routing_dir, routing)
    page = page_dir / f"{name}.html"
    write_text_atomic(page, browser_page(run, data, data_file, report_href))
    return Browser(page, len(predictions), dict(data["status_counts"]))


def browser_link_html(browser: Browser, page_dir: Path) -> str:
    """The report's pointer to its sample browser, with one link per outcome (a filtered view)."""
    href = html.escape(relative_url(browser.path, page_dir))
    links = " · ".join(f'<a href="{href}#status={s}">{browser.counts[s]:,} {html.escape(s)}</a>'
                       for s in STATUSES if browser.counts.get(s))
    return (f'<section id="browser"><p><b><a href="{href}">Browse all {browser.n:,} samples</a></b> (image, prompt, '
            f"output, extracted letter; filter by outcome, group and text): {links}</p></section>")
