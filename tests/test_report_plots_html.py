"""Figures (PNG + the exact data as CSV), the expert heatmap counts and the static HTML report."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from awaker_eval.report import html_cli, plots_cli
from awaker_eval.report.plots import routing_counts, score_bars_data
from awaker_eval.report.small_n import clopper_pearson
from awaker_eval.types import Prediction
from awaker_eval.tasks.registry import get_benchmark
from test_report_support import mme_predictions, write_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _units() -> pd.DataFrame:
    return pd.DataFrame({
        "unit": [f"u{i}" for i in range(8)], "cluster": ["a", "a", "b", "c", "d", "d", "e", "f"],
        "correct": [1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0],
        "split": ["Perception"] * 4 + ["Reasoning"] * 4, "subtask": ["Monitoring"] * 8,
        "category": ["x", "y"] * 4, "l2_category": [None] * 8, "failed": [False] * 8,
    })


def test_score_bars_data_values():
    data = score_bars_data([("run1", _units(), get_benchmark("mme_realworld"))], "split", n_boot=200, seed=0)
    assert list(data.columns) == ["run", "level", "group", "n", "score", "lo", "hi", "method", "clusters", "chance"]
    assert set(data["chance"]) == {20.0}  # five options A-E
    rows = data.set_index("group")
    assert rows.loc["Perception", "score"] == pytest.approx(75.0) and rows.loc["Perception", "n"] == 4
    assert rows.loc["Reasoning", "score"] == pytest.approx(25.0)
    assert (data["lo"] <= data["score"]).all() and (data["score"] <= data["hi"]).all()
    # 4 units in 3 images: too few clusters for a bootstrap, the exact interval of 0.75 x 3 clusters
    assert list(rows["method"]) == ["exact", "exact"] and rows.loc["Perception", "clusters"] == 3
    lo, hi = clopper_pearson(2.25, 3)
    assert rows.loc["Perception", ["lo", "hi"]].tolist() == pytest.approx([100 * lo, 100 * hi])
    assert 0 < rows.loc["Perception", "lo"] < rows.loc["Perception", "hi"] < 100


def test_routing_counts_from_records():
    # the Awaker backend's record: per layer, per router [o_proj, gate_proj] the chosen expert and its p
    route = {"mode": "fork", "routers": ["self_attn.o_proj", "mlp.gate_proj"],
             "prefill": {"expert": [[1, 2], [3, 0]], "p": [[0.9, 0.7], [0.6, 0.5]]},
             "decode": {"expert": [[1, 3], [2, 0]], "p": [[0.8, 0.5], [0.6, 0.5]]}}
    preds = [Prediction(id=str(i), benchmark="b", prompt_hash="", protocol_fp="", model_fp="", raw_output="A",
                        extracted="A", extract_method="rule", answer="A", correct=True, subtask=sub, routing=r)
             for i, (sub, r) in enumerate([("OCR", route), ("OCR", route), ("Monitoring", route), ("OCR", None)])]
    counts = routing_counts(preds, by="subtask")
    ocr = counts[(counts["task"] == "OCR") & (counts["layer"] == 0)].set_index("router")
    assert ocr.loc["self_attn.o_proj", "expert"] == 1 and ocr.loc["self_attn.o_proj", "count"] == 2
    assert ocr.loc["self_attn.o_proj", "share"] == 1.0
    assert ocr.loc["mlp.gate_proj", "expert"] == 2
    assert counts["count"].sum() == 3 * 4  # 3 routed samples x 2 layers x 2 routers; the unrouted one skipped
    decode = routing_counts(preds, by="subtask", phase="decode")
    gate = decode[(decode["task"] == "OCR") & (decode["router"] == "mlp.gate_proj") & (decode["layer"] == 0)]
    assert gate.set_index("expert")["count"].to_dict() == {3: 2}  # decode routing differs from prefill (2)


def test_plot_cli_writes_png_and_matching_csv(tmp_path, capsys):
    preds = mme_predictions(n_per_subtask=15, n_reasoning=15, routing=True)
    run = write_run(tmp_path / "run", preds)
    assert plots_cli.main([str(run), "--level", "subtask", "--n-boot", "100"]) == 0
    out = tmp_path / "run" / "plots"
    png = (out / "mme_realworld_subtask.png").read_bytes()
    assert png.startswith(PNG_MAGIC)
    data = pd.read_csv(out / "mme_realworld_subtask.csv").set_index("group")
    monitoring = [p for p in preds if p.task == "Reasoning"]
    assert data.loc["Reasoning/Monitoring", "score"] == pytest.approx(100 * sum(p.correct for p in monitoring) / 15)
    assert data.loc["Reasoning/Monitoring", "n"] == 15
    heat = pd.read_csv(out / "experts_awaker_prefill.csv")
    assert (out / "experts_awaker_prefill.png").read_bytes().startswith(PNG_MAGIC)
    rs = heat[(heat["task"] == "Remote Sensing") & (heat["router"] == "self_attn.o_proj")]
    assert set(rs["expert"]) == {1} and set(rs["count"]) == {15}  # synthetic: Remote Sensing -> expert 1


def test_html_report_lists_failed_and_unparsable_samples(tmp_path, capsys):
    preds = mme_predictions(n_per_subtask=10, n_reasoning=10)
    preds[4] = Prediction(**{**preds[4].__dict__, "raw_output": None, "extracted": "", "correct": False,
                             "error": "ImageLoadError: image 'img-1': cannot decode"})
    preds[7] = Prediction(**{**preds[7].__dict__, "raw_output": "maybe <b>C</b> or D", "extracted": "",
                             "extract_method": "none", "correct": False})
    run = write_run(tmp_path / "run", preds)
    assert html_cli.main([str(run), "--n-boot", "100"]) == 0
    page = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert "<h2>Failed samples (1)</h2>" in page and "ImageLoadError: image &#x27;img-1&#x27;" in page
    assert "<h2>Unparsable outputs (1)</h2>" in page and "maybe &lt;b&gt;C&lt;/b&gt; or D" in page
    assert re.search(r"<td>mme-7</td>\s*<td>img-2</td>", page)  # sample id and its image id
    assert '<tr class="ours"><td>awaker ★</td>' in page and "<b>60.8</b>" in page
    assert page.count("data:image/png;base64,") == 4  # leaderboard; split, subtask, category bars (no routing)
    assert 'href="plots/mme_realworld_split.csv"' in page
    assert "All aggregates" in page and "Reasoning/Monitoring" in page


def test_plot_sweep_of_two_runs_with_the_same_label(tmp_path, capsys):
    # two checkpoints both called pytorch_model.bin: same label, told apart by their sweep job directory
    preds = mme_predictions(n_per_subtask=10, n_reasoning=10, routing=True)
    for job in ("0", "1"):
        write_run(tmp_path / "sweep" / job, preds, checkpoint=f"/ckpt/{job}/pytorch_model.bin", n_boot=20)
    assert plots_cli.main([str(tmp_path / "sweep"), "--level", "split", "--n-boot", "100",
                           "--out", str(tmp_path / "o")]) == 0
    data = pd.read_csv(tmp_path / "o" / "mme_realworld_split.csv")
    assert sorted(set(data["run"])) == ["awaker@pytorch_model.bin (0)", "awaker@pytorch_model.bin (1)"]
    assert len(data) == 6  # per run: Overall, Perception, Reasoning
    assert list(data["label"][:3]) == ["Overall", "Perception", "Reasoning"]
    assert (tmp_path / "o" / "experts_awaker_pytorch_model.bin_0_prefill.csv").is_file()
    assert (tmp_path / "o" / "experts_awaker_pytorch_model.bin_1_prefill.csv").is_file()
