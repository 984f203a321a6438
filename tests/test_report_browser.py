"""The HTML report as a reader sees it: rendered by headless Chromium, headline first, every figure loaded.

A small script appended to a copy of the page records, after load, every image's naturalWidth and the
vertical position of each section into the DOM, which ``--dump-dom`` then prints.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from awaker_eval.report import html_cli
from awaker_eval.types import Prediction
from test_report_support import flip, mme_predictions, write_run

PROBE = """<script>window.addEventListener('load', () => {
  const top = s => { const e = document.querySelector(s); return e ? e.getBoundingClientRect().top : null; };
  const out = {images: [...document.images].map(i => [i.alt, i.complete, i.naturalWidth]),
               headline: top('#headline'), first_h2: top('h2'), details_open: document.querySelector('details').open,
               first_numbers: document.querySelector('#headline').innerText.slice(0, 400)};
  const pre = document.createElement('pre'); pre.id = 'probe'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});</script>"""
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"]


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        reason = "headless Chromium not installed (apt-get install -y chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def render(page: Path, tmp_path: Path, screenshot: Path | None = None) -> dict:
    """Load ``page`` (plus the probe script) in Chromium; the probe's record of what loaded and where."""
    browser = _chromium()
    probed = page.with_name(page.stem + "_probed.html")
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    flags = FLAGS + [f"--user-data-dir={tmp_path / 'chromium-profile'}", "--virtual-time-budget=10000",
                     "--window-size=1280,1600"]
    out = subprocess.run([browser, *flags, "--dump-dom", probed.as_uri()], capture_output=True, text=True,
                         timeout=120)
    match = re.search(r'<pre id="probe">(.*?)</pre>', out.stdout, re.S)
    assert match, f"no probe output from chromium: {out.stderr[-1500:]}"
    if screenshot is not None:
        subprocess.run([browser, *flags, f"--screenshot={screenshot}", page.as_uri()], capture_output=True,
                       timeout=120, check=True)
        assert screenshot.read_bytes().startswith(b"\x89PNG")
    return json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<")
                      .replace("&gt;", ">"))


def test_report_in_chromium_headline_first_and_every_figure_loads(tmp_path, capsys):
    preds = mme_predictions(n_per_subtask=10, n_reasoning=10, routing=True)
    preds[3] = Prediction(**{**preds[3].__dict__, "raw_output": "<img src=x onerror=alert(1)> C?", "extracted": "",
                             "extract_method": "none", "correct": False})
    run = write_run(tmp_path / "run", preds, n_boot=50)
    assert html_cli.main([str(run), "--n-boot", "100"]) == 0
    shot = Path(os.environ.get("REPORT_SCREENSHOT") or tmp_path / "report.png")
    seen = render(run / "report.html", tmp_path, screenshot=shot)
    # the reader sees the headline before any other section, with each official aggregate, interval and n
    assert seen["headline"] < seen["first_h2"]
    # (50 units in 17 images: fewer than 30 clusters, so the interval is the exact one, marked so)
    assert re.search(r"run\tOverall %\t95% CI\tn\tPerception %\t95% CI\tn\tReasoning %\t95% CI\tn\s+awaker\t"
                     r"\d+\.\d\d\t\[\d+\.\d\d, \d+\.\d\d\] exact\t50\t\d+\.\d\d\t\[[\d., ]+\] exact\t40\t",
                     seen["first_numbers"])
    # leaderboard, split, subtask, category bars and the expert heatmap: all decoded by the browser
    assert len(seen["images"]) == 5
    assert all(complete and width > 0 for _, complete, width in seen["images"]), seen["images"]
    assert seen["details_open"] is False  # settings folded away
    page = (run / "report.html").read_text(encoding="utf-8")
    assert "&lt;img src=x onerror=alert(1)&gt; C?" in page and "<img src=x" not in page  # raw output is text
    assert page.count("<details>") == 1 and page.count("&quot;run.json&quot;") == 1  # settings once


def test_comparison_page_in_chromium_shows_differences_and_gate(tmp_path, capsys):
    preds = mme_predictions(n_per_subtask=20, n_reasoning=20)
    worse = flip(preds, {p.id for p in preds if p.correct and p.task == "Perception"}, to_correct=False)
    base = write_run(tmp_path / "base", preds, n_boot=50)
    new = write_run(tmp_path / "new", worse, model="awaker_ft", n_boot=50)
    out = tmp_path / "cmp" / "comparison.html"
    assert html_cli.main([str(base), str(new), "--out", str(out), "--n-boot", "100"]) == 0
    page = out.read_text(encoding="utf-8")
    assert "GATE FAILED (max drop 1.0 pts, alpha 0.05)" in page and "awaker_ft vs awaker (base)" in page
    seen = render(out, tmp_path)
    assert seen["headline"] < seen["first_h2"]
    rows = seen["first_numbers"].splitlines()
    assert rows[1].startswith("awaker\t") and re.match(r"awaker_ft\t[\d.]+\t\[.*?\]\t100\t0\.00\t", rows[2])
    assert len(seen["images"]) == 1 and seen["images"][0][2] > 0
