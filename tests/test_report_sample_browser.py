"""The sample browser (samples.html), flips side by side, pages that fit 1,200 px, outputs beside the runs.

The demo (40 samples, tiny model) runs twice (model.seed 0 and 1: two checkpoints that disagree); headless Chromium
drives the browser as a reader would (choose the outcome and the category, open a sample) and a probe script writes
what the page shows into the DOM, which ``--dump-dom`` prints.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from awaker_eval import cli
from awaker_eval.pipeline import evaluate
from awaker_eval.prompts_cli import prompt_records
from awaker_eval.report import compare_cli, html_cli, plots_cli
from awaker_eval.report.browser import DATA_FILE, sample_status, shared_lines, write_browser
from awaker_eval.report.runs import find_runs
from awaker_eval.report.sample_media import THUMBS_DIR
from awaker_eval.score.readers import read_jsonl
from awaker_eval.tasks.registry import catalogue
from awaker_eval.types import Prediction
from test_demo_e2e import demo_cfg
from test_report_browser import FLAGS, _chromium
from test_report_support import flip, mmbench_predictions, mme_predictions, write_run

JPEG_MAGIC = b"\xff\xd8\xff"


@pytest.fixture(scope="module")
def demo_pair(tmp_path_factory, tiny_cache_dir):
    """Two demo runs on the same 40 samples: the tiny model with seed 0 (base) and seed 1."""
    tmp = tmp_path_factory.mktemp("browser_demo")
    base_cfg = demo_cfg(tmp, tiny_cache_dir)
    base = evaluate(base_cfg)
    new = evaluate(demo_cfg(tmp, tiny_cache_dir, "model.seed=1"))
    return base_cfg, base, new


def page_data(page_dir: Path) -> dict:
    text = (page_dir / DATA_FILE).read_text(encoding="utf-8")
    return json.loads(text[text.index("=") + 1:].strip().rstrip(";"))


def prompt_of(data: dict, row: list) -> str:
    p = row[3]
    return "\n".join(data["lines"][x] if isinstance(x, int) else x for x in p) if isinstance(p, list) else p


def probe(page: Path, script: str, tmp_path: Path, fragment: str = "", width: int = 1200) -> dict:
    """Load ``page`` (a copy beside it, with ``script`` appended) at ``width`` px; the JSON the script wrote into
    ``<pre id="probe">``."""
    browser = _chromium()
    probed = page.with_name(page.stem + "_probed.html")
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", script + "</body>"), encoding="utf-8")
    flags = FLAGS + [f"--user-data-dir={tmp_path / 'chromium-profile'}", "--virtual-time-budget=10000",
                     f"--window-size={width},900"]
    out = subprocess.run([browser, *flags, "--dump-dom", probed.as_uri() + fragment], capture_output=True, text=True,
                         timeout=180)
    probed.unlink()
    match = re.search(r'<pre id="probe">(.*?)</pre>', out.stdout, re.S)
    assert match, f"no probe output from chromium: {out.stderr[-1500:]}"
    return json.loads(match.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
                      .replace("&amp;", "&"))


def _write_probe(expr: str) -> str:
    return ("<script>function writeProbe(v){const p=document.createElement('pre');p.id='probe';"
            "p.textContent=JSON.stringify(v);document.body.appendChild(p);}" + expr + "</script>")


FILTER_AND_OPEN = _write_probe("""window.addEventListener('load', () => {
  const set = (sel, v) => { const e = document.querySelector(sel); e.value = v; e.dispatchEvent(new Event('change')); };
  set('#status', 'wrong'); set('#level-category', CATEGORY);
  const ids = [...document.querySelectorAll('.sample')].map(a => a.dataset.id);
  const count = document.getElementById('count').textContent;
  document.querySelector('.sample .open').click();
  const card = document.querySelector('.sample.is-open');
  const img = card.querySelector('.detail img');
  const done = () => writeProbe({ids, count, open: card.dataset.id, status: card.dataset.status,
    prompt: card.querySelector('.detail pre.prompt').textContent,
    output: card.querySelector('.detail pre.output').textContent,
    img: img ? [img.getAttribute('loading'), img.complete, img.naturalWidth, img.getAttribute('src')] : null,
    hash: location.hash});
  img ? img.decode().then(done, done) : done();
});""")
OVERFLOW = _write_probe("""window.addEventListener('load', () => setTimeout(() => {
  const d = document.documentElement;
  writeProbe({scroll: d.scrollWidth, client: d.clientWidth,
              wide: [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > d.clientWidth)
                       .slice(0, 5).map(e => e.tagName + '.' + e.className)});
}, 200));""")


def test_demo_browser_holds_every_sample_with_exact_prompt_output_and_image(demo_pair):
    cfg, run, _ = demo_pair
    data = page_data(run)
    preds = {p.id: p for p in read_jsonl(run / "predictions.jsonl")}
    # the prompts `awaker-eval prompts` prints for this config: the text the run built
    built = {r["id"]: r["messages"][0]["content"][-1]["text"] for r in prompt_records(cfg.benchmark)}
    assert len(data["rows"]) == 40 and {row[0] for row in data["rows"]} == set(preds) == set(built)
    for row in data["rows"]:
        p = preds[row[0]]
        assert prompt_of(data, row) == built[p.id] and row[4] == "exact"
        assert row[5] == p.raw_output and row[7] == p.extracted and row[8] == p.extract_method
        assert row[9] == p.answer and row[1] == sample_status(p)
        thumb = run / row[10]
        assert thumb.parent.name == THUMBS_DIR and thumb.read_bytes().startswith(JPEG_MAGIC)
    assert sum(data["status_counts"].values()) == 40
    assert [lv["key"] for lv in data["levels"]] == ["split", "subtask", "category"]
    report = (run / "report.html").read_text(encoding="utf-8")
    assert '<a href="samples.html">Browse all 40 samples</a>' in report
    assert "samples.html#status=wrong" in report


def test_browser_in_chromium_filters_wrong_answers_of_one_category_and_opens_one(demo_pair, tmp_path):
    cfg, run, _ = demo_pair
    preds = read_jsonl(run / "predictions.jsonl")
    wrong = [p for p in preds if p.error is None and p.raw_output is not None and p.extracted
             and p.extract_method != "none" and p.correct is False]
    category = max(sorted({p.category for p in wrong}), key=lambda c: sum(p.category == c for p in wrong))
    expected = [p.id for p in wrong if p.category == category]
    seen = probe(run / "samples.html", FILTER_AND_OPEN.replace("CATEGORY", json.dumps(category)), tmp_path)
    assert seen["count"] == str(len(expected)) and seen["ids"] == expected
    first = next(p for p in preds if p.id == expected[0])
    built = {r["id"]: r["messages"][0]["content"][-1]["text"] for r in prompt_records(cfg.benchmark)}
    assert seen["open"] == first.id and seen["status"] == "wrong"
    assert seen["prompt"] == built[first.id] and seen["output"] == first.raw_output
    loading, complete, width, src = seen["img"]
    assert loading == "lazy" and complete and width > 0 and src.startswith("thumbs/")
    assert "status=wrong" in seen["hash"] and "category=" in seen["hash"]


def test_thumbnails_are_made_once_and_reused_by_a_later_report(demo_pair, capsys):
    _, run, _ = demo_pair
    thumbs = sorted((run / THUMBS_DIR).glob("*.jpg"))
    stamps = {t: t.stat().st_mtime_ns for t in thumbs}
    assert 0 < len(thumbs) <= 40  # one per distinct image (every 4th item shares its image)
    assert html_cli.main([str(run), "--no-plots", "--n-boot", "100"]) == 0
    assert {t: t.stat().st_mtime_ns for t in sorted((run / THUMBS_DIR).glob("*.jpg"))} == stamps
    assert all(row[4] == "exact" for row in page_data(run)["rows"])


def test_no_page_overflows_at_1200_px(demo_pair, tmp_path, capsys):
    _, base, new = demo_pair
    out = tmp_path / "cmp" / "comparison.html"
    assert html_cli.main([str(base), str(new), "--out", str(out), "--n-boot", "100"]) == 0
    first = page_data(base)["rows"][0][0]
    pages = [(base / "report.html", ""), (base / "samples.html", ""),
             (base / "samples.html", f"#status=unparsable&open={first}"), (out, "")]
    for page, fragment in pages:
        seen = probe(page, OVERFLOW, tmp_path, fragment)
        assert seen["scroll"] <= seen["client"] == 1200, (page.name, fragment, seen)


def test_comparison_of_the_demo_runs_lists_flips_with_both_outputs(demo_pair, tmp_path, capsys):
    _, base, new = demo_pair
    out = tmp_path / "cmp" / "comparison.html"
    assert html_cli.main([str(base), str(new), "--out", str(out), "--no-plots", "--n-boot", "100"]) == 0
    page = out.read_text(encoding="utf-8")
    a = {p.id: p for p in read_jsonl(base / "predictions.jsonl")}
    b = {p.id: p for p in read_jsonl(new / "predictions.jsonl")}
    flipped = [i for i in a if bool(a[i].correct) != bool(b[i].correct)]
    assert flipped, "the two seeds should disagree somewhere"
    for i in flipped:
        block = re.search(rf'<article class="flip (broken|fixed)" data-unit="{re.escape(i)}">(.*?)</article>', page,
                          re.S)
        assert block, i
        assert block.group(1) == ("broken" if a[i].correct else "fixed")
        for p in (a[i], b[i]):
            assert f"<pre>{__import__('html').escape(p.raw_output)}</pre>" in block.group(2)
        assert '<img class="thumb" loading="lazy" src="../' in block.group(2)
    order = re.findall(r'<article class="flip (broken|fixed)"', page)
    assert order == sorted(order, key=["broken", "fixed"].index)  # right -> wrong first


def test_flips_csv_and_page_carry_both_outputs(tmp_path, capsys):
    preds = mme_predictions(n_per_subtask=10, n_reasoning=10, acc=0.5)
    preds = [Prediction(**{**p.__dict__, "raw_output": f"base says {p.extracted} <{p.id}>"}) for p in preds]
    broken = {p.id for p in preds if p.correct}
    broken = set(sorted(broken)[:5])
    fixed = set(sorted(p.id for p in preds if not p.correct)[:3])
    worse = flip(flip(preds, broken, to_correct=False), fixed, to_correct=True)
    worse = [Prediction(**{**p.__dict__, "raw_output": f"new says {p.extracted}"}) for p in worse]
    base, new = write_run(tmp_path / "base", preds, n_boot=50), write_run(tmp_path / "new", worse, model="ft",
                                                                          n_boot=50)
    compare_cli.main([str(base), str(new), "--out", str(tmp_path / "o"), "--n-boot", "100"])
    flips = pd.read_csv(tmp_path / "o" / "flips.csv", keep_default_na=False)
    assert list(flips["change"]) == ["broken"] * 5 + ["fixed"] * 3
    assert set(flips["unit"]) == broken | fixed
    row = flips.set_index("unit").loc[sorted(broken)[0]]
    assert row["base_output"] == f"base says A <{sorted(broken)[0]}>" and row["new_output"] == "new says C"
    assert (row["base_letter"], row["new_letter"], row["answer"]) == ("A", "C", "A")
    out = tmp_path / "cmp.html"
    assert html_cli.main([str(base), str(new), "--out", str(out), "--no-plots", "--n-boot", "100"]) == 0
    page = out.read_text(encoding="utf-8")
    assert "Flipped units: 5 right → wrong, 3 wrong → right" in page
    for unit in broken | fixed:
        assert f'data-unit="{unit}"' in page and f"&lt;{unit}&gt;" in page  # base output, escaped
    assert page.count("<pre>new says ") == 8
    assert '<td><span class="pass">ok</span></td>' in page  # the gate column is filled


def test_browser_of_mmbench_groups_by_ability_and_keeps_circular_passes(tmp_path):
    run = write_run(tmp_path / "mmb", mmbench_predictions(n_questions=12), kind="mmbench", name="mmbench",
                    version="v11", split="dev", n_boot=20)
    browser = write_browser(find_runs([run], catalogue())[0])
    data = page_data(run)
    assert browser.n == len(data["rows"]) == 36
    levels = {lv["key"]: lv for lv in data["levels"]}
    assert set(levels) == {"l2_category", "category"}
    assert "CP" in levels["l2_category"]["groups"] and sum(levels["l2_category"]["counts"]) == 36
    second_pass = next(row for row in data["rows"] if row[0] == "1000003")
    assert second_pass[13] == "3"  # its scoring unit: the circular question
    assert second_pass[4] == "rebuilt" and second_pass[10] is None  # no images recorded: prompt not checkable


def test_shared_prompt_lines_join_back_exactly():
    prompts = ["Q1 The choices are listed below:\n(A) 1\n\nSelect the best answer.", "Q2\n(A) 1\nSelect the best answer.",
               "no shared line", ""]
    table, encoded = shared_lines(prompts)
    joined = ["\n".join(table[x] if isinstance(x, int) else x for x in e) if isinstance(e, list) else e
              for e in encoded]
    assert joined == prompts and "Select the best answer." in table


def test_browser_of_30k_samples_pages_and_filters(tmp_path):
    """A full-size run (30,000 samples): the data stays a few MB and the page renders 50 at a time."""
    preds = mme_predictions(n_per_subtask=6000, n_reasoning=6000)
    options = [["A", "12", "(A) 12"], ["B", "3", "(B) 3"], ["C", "6", "(C) 6"], ["D", "5", "(D) 5"],
               ["E", "The image does not feature any circles.", "(E) The image does not feature any circles."]]
    preds = [Prediction(**{**p.__dict__, "question": f"How many circles are there in image {i}?",
                           "choices": options}) for i, p in enumerate(preds)]
    run = write_run(tmp_path / "big", preds, n_boot=20)
    write_browser(find_runs([run], catalogue())[0])
    size = (run / DATA_FILE).stat().st_size
    assert size < 12_000_000, size
    wrong_reasoning = sum(1 for p in preds if p.task == "Reasoning" and not p.correct and "777" in p.id)
    seen = probe(run / "samples.html", _write_probe("""window.addEventListener('load', () => {
      const before = document.querySelectorAll('.sample').length;
      const set = (sel, v) => { const e = document.querySelector(sel); e.value = v; e.dispatchEvent(new Event('change')); };
      set('#status', 'wrong'); set('#level-split', 'Reasoning');
      const q = document.getElementById('search'); q.value = '777'; q.dispatchEvent(new Event('input'));
      setTimeout(() => writeProbe({before, total: document.getElementById('count').textContent,
        shown: document.querySelectorAll('.sample').length, pages: document.querySelector('.page-of').textContent}), 400);
    });"""), tmp_path)
    assert seen["before"] == 50 and seen["total"] == str(wrong_reasoning)
    assert seen["shown"] == min(50, wrong_reasoning)


def test_several_runs_write_beside_them_not_into_the_current_directory(tmp_path, monkeypatch, capsys):
    preds = mme_predictions(n_per_subtask=10, n_reasoning=10)
    sweep = tmp_path / "results" / "sweeps" / "s1"
    a, b = write_run(sweep / "0", preds, n_boot=20), write_run(sweep / "1", preds, model="ft", n_boot=20)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert cli.main(["report", str(sweep), "--n-boot", "100"]) == 0
    assert (sweep / "comparison.html").is_file() and (sweep / "comparison_plots").is_dir()
    assert html_cli.main([str(a), str(b), "--no-plots", "--n-boot", "100"]) == 0  # two run directories
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(sweep / "comparison.html")
    assert plots_cli.main([str(a), str(b), "--level", "split", "--n-boot", "100"]) == 0
    assert (sweep / "plots" / "mme_realworld_split.csv").is_file()
    assert list(elsewhere.iterdir()) == []  # nothing in the current directory
    out = tmp_path / "mine" / "c.html"
    assert html_cli.main([str(sweep), "--out", str(out), "--no-plots", "--n-boot", "100"]) == 0 and out.is_file()


def test_awaker_routing_is_shown_when_a_sample_is_opened(tmp_path):
    preds = mme_predictions(n_per_subtask=3, n_reasoning=3, routing=True)
    run = write_run(tmp_path / "awaker", preds, n_boot=20)
    write_browser(find_runs([run], catalogue())[0])
    assert sorted(p.name for p in (run / "samples_routing").iterdir()) == ["0000.js"]
    target = preds[4]  # Perception, Remote Sensing: expert 1 on o_proj in every layer (test_report_support)
    seen = probe(run / "samples.html", _write_probe("""window.addEventListener('load', () => setTimeout(() => {
      const rows = [...document.querySelectorAll('.is-open table.routing tr')].map(r => r.innerText.split('\\t'));
      writeProbe({rows});
    }, 500));"""), tmp_path, fragment=f"#open={target.id}")
    layers = target.routing["prefill"]["expert"]
    assert seen["rows"][0] == ["layer", "prefill self_attn.o_proj", "prefill mlp.gate_proj"]
    assert seen["rows"][1:] == [[str(layer), f"{e[0]} (90%)", f"{e[1]} (80%)"] for layer, e in enumerate(layers)]
