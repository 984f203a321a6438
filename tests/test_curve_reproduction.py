"""``awaker-eval curve`` over a max_pixels sweep of the tiny model, and the reproduction verdict of ``table`` and the
report (issue 22): "reproduced" when the published value lies inside our 95% interval, "not reproduced (...)"
otherwise, "not comparable" for subsets; no verdict for a model without a published row."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import yaml
from test_explain import tiny_cfg
from test_report_support import mme_predictions, write_run

from awaker_eval import cli, pipeline
from awaker_eval.report.html import leaderboard_html
from awaker_eval.report.runs import load_run
from awaker_eval.tasks.registry import catalogue
from awaker_eval.visual_tokens import qwen2_vl_tokens

PIXELS = (12544, 50176, 200704)
AWAKER = "MetabrainAGI/Awaker2.5-VL"


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, tiny_cache_dir) -> Path:
    root = tmp_path_factory.mktemp("curve")
    for px in PIXELS:
        pipeline.evaluate(tiny_cfg(f"output_dir={root / 'sweep' / f'mp{px}'}", f"model.cache_dir={tiny_cache_dir}",
                                   f"benchmark.cache_dir={root / 'data'}", "benchmark.limit=4",
                                   "runner.progress=false", f"benchmark.max_pixels={px}"))
    return root / "sweep"


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = cli.main([*map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_curve_writes_the_figure_and_one_csv_row_per_run(sweep, capsys, tmp_path):
    code, out, err = run_cli(capsys, "curve", sweep, "--out", tmp_path / "curve")
    assert code == 0, err
    assert (tmp_path / "curve" / "curve.png").stat().st_size > 1000
    rows = list(csv.DictReader((tmp_path / "curve" / "curve.csv").open()))
    assert [int(r["max_pixels"]) for r in rows] == list(PIXELS)
    tokens = [float(r["mean_visual_tokens"]) for r in rows]
    recorded = [json.loads((sweep / f"mp{px}" / "run.json").read_text())["visual_tokens"] for px in PIXELS]
    assert tokens == [r["mean_per_image"] for r in recorded] and tokens == sorted(tokens) and tokens[0] < tokens[-1]
    assert all(r["tokens_source"] == "recorded" for r in rows)
    for row, px in zip(rows, PIXELS):
        scores = json.loads((sweep / f"mp{px}" / "scores.json").read_text())
        assert float(row["Overall_score"]) == pytest.approx(100 * scores["overall"])
        assert float(row["Overall_lo"]) <= float(row["Overall_score"]) <= float(row["Overall_hi"])
    assert "published: none for this model" in out


def test_curve_counts_tokens_for_runs_made_before_the_record(sweep, capsys, tmp_path):
    copy = Path(shutil.copytree(sweep, tmp_path / "old"))
    for px in PIXELS:
        meta = json.loads((copy / f"mp{px}" / "run.json").read_text())
        recorded = meta.pop("visual_tokens")
        (copy / f"mp{px}" / "run.json").write_text(json.dumps(meta))
    code, _, err = run_cli(capsys, "curve", copy)
    assert code == 0, err
    rows = list(csv.DictReader((copy / "curve" / "curve.csv").open()))
    assert float(rows[-1]["mean_visual_tokens"]) == recorded["mean_per_image"]  # the same count either way
    assert rows[-1]["tokens_source"].startswith("counted")
    for px in PIXELS:  # a served model: its tokens are not Qwen2-VL's, the axis cannot be counted for it
        config = yaml.safe_load((copy / f"mp{px}" / "config.yaml").read_text())
        config["model"]["kind"] = "openai_api"
        (copy / f"mp{px}" / "config.yaml").write_text(yaml.safe_dump(config))
    code, _, err = run_cli(capsys, "curve", copy)
    assert code == 2 and "records no visual tokens and model.kind='openai_api' is not a Qwen2-VL model" in err


def test_qwen2_vl_token_rule():
    assert qwen2_vl_tokens(280, 280, None, None) == 100  # (280 / 28)^2
    assert qwen2_vl_tokens(1000, 1000, None, 50176) <= 64  # 50,176 px = 64 tokens at most


def test_curve_refuses_mixed_sets_and_too_few_runs(sweep, capsys, tmp_path):
    mixed = Path(shutil.copytree(sweep, tmp_path / "mixed"))
    config = (mixed / "mp12544" / "config.yaml")
    config.write_text(config.read_text().replace("max_new_tokens: 16", "max_new_tokens: 32"))
    code, out, err = run_cli(capsys, "curve", mixed)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "benchmark.max_new_tokens differs" in err
    code, _, err = run_cli(capsys, "curve", sweep / "mp12544")
    assert code == 2 and "at least 2 runs, found 1" in err
    code, _, err = run_cli(capsys, "curve", tmp_path / "absent")
    assert code == 2 and "absent" in err


# -- reproduction verdict ---------------------------------------------------------------------------------------
def _full_run(path: Path, acc: float, **bench) -> Path:
    preds = mme_predictions(n_per_subtask=5000, n_reasoning=3609, acc=acc)  # 23,609 items: the full EN set
    return write_run(path, preds, model="awaker2_5_vl", checkpoint=AWAKER, n_boot=100, **bench)


@pytest.fixture(scope="module")
def verdict_runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("verdict")
    return {"close": _full_run(root / "close", 0.608), "far": _full_run(root / "far", 0.55),
            "subset": write_run(root / "subset", mme_predictions(n_per_subtask=10, n_reasoning=10), limit=60,
                                model="awaker2_5_vl", checkpoint=AWAKER, n_boot=100)}


def test_table_says_reproduced_not_reproduced_and_not_comparable(verdict_runs, capsys):
    code, out, err = run_cli(capsys, "table", *verdict_runs.values(), "--n-boot", "100")
    assert code == 0, err
    close = json.loads((verdict_runs["close"] / "scores.json").read_text())
    far = json.loads((verdict_runs["far"] / "scores.json").read_text())
    assert 100 * close["ci"]["overall"][0] <= 60.8 <= 100 * close["ci"]["overall"][1]
    lines = out.split("Reproduction of the published number:\n")[1].splitlines()
    assert lines[0].startswith("- awaker2_5_vl@Awaker2.5-VL (close): reproduced (Awaker2.5-VL: published 60.8, ours ")
    lo, hi = (100 * v for v in far["ci"]["overall"])
    assert lines[1] == (f"- awaker2_5_vl@Awaker2.5-VL (far): not reproduced (published 60.8, ours {100 * far['overall']:.2f} "
                        f"[{lo:.2f}, {hi:.2f}])")
    assert lines[2].startswith("- awaker2_5_vl@Awaker2.5-VL (subset): not comparable to the published Awaker2.5-VL (a subset run")


def test_report_page_and_csv_and_no_counterpart(verdict_runs, capsys, tmp_path):
    run = load_run(verdict_runs["far"], catalogue())
    page = leaderboard_html([(run.label, run, run.scores_with_ci())], None, tmp_path)
    assert "<h3>Reproduction</h3>" in page and "not reproduced (published 60.8, ours " in page
    code, out, _ = run_cli(capsys, "table", verdict_runs["far"], "--format", "csv")
    assert code == 0 and "reproduced" not in out  # CSV stays a table
    other = write_run(tmp_path / "tiny", mme_predictions(n_per_subtask=5, n_reasoning=5), model="tiny")
    code, out, _ = run_cli(capsys, "table", other)
    assert code == 0 and "Reproduction" not in out
