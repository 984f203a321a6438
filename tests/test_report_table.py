"""The published rows reproduce the Awaker README tables; our runs are inserted, marked and annotated."""

from __future__ import annotations

import io
import re

import pandas as pd
import pytest

from awaker_eval.config.schema import BenchmarkConfig
from awaker_eval.report import table_cli
from awaker_eval.report.leaderboard import render_leaderboard, render_table
from awaker_eval.report.published import published_tables, resolve_table
from awaker_eval.tasks.registry import get_benchmark, in_registration_order
from test_report_support import mmbench_predictions, mme_predictions, write_run

TABLES = published_tables(in_registration_order())

# Verbatim from github.com/MetabrainAGI/Awaker README.md @1b171bc (the data rows of its four tables).
README = {
    "mme_realworld_cn": """
| **Awaker2.5-VL (ours)**   |   10.8B    |     Metabrain AGI      | **62.7** | **67.71**  | **52.07** |
| Qwen2-VL            |     8B     |        Alibaba         |   55.5   |   59.80    |   46.46   |
| InternVL-2          |     7B     |    Shanghai AI Lab     |   54.3   |   57.97    |   46.65   |
| InternVL-Chat-V1.5  |    20B     |    Shanghai AI Lab     |   47.9   |   49.90    |   43.74   |
| Claude 3.5 Sonnet   |     -      |       Anthropic        |   47.0   |   48.25    |   44.31   |
| YI-VL-34B           |    34B     |         01.AI          |   42.0   |   42.45    |   41.16   |
| CogVLM2-llama3-Chat |     8B     |     THU & Zhipu AI     |   39.8   |   38.57    |   42.25   |
| GPT-4o              |     -      |         OpenAI         |   38.8   |   43.44    |   29.05   |
| Mini-Gemini-34B-HD  |    34B     |          CUHK          |   38.5   |   38.31    |   38.75   |
| Cambrian-1-8B       |     8B     |          NYU           |   33.6   |   32.44    |   35.97   |
| LLaVA-NeXT-Qwen-72B |    72B     | Bytedance |   30.6   |   30.02    |   31.67   |
| Gemini-1.5-Pro      |     -      |         Google         |   28.1   |   36.10    |   11.14   |
| DeepSeek-VL         |     7B     |      DeepSeek-AI       |   27.6   |   27.63    |   27.63   |
| GPT-4o-mini         |     -      |         OpenAI         |   25.9   |   26.32    |   25.16   |
""",
    "mme_realworld": """
| **Awaker2.5-VL (ours)** |   10.8B    |     Metabrain AGI     | **60.8** | **63.14**  |   43.74   |
| LLaVA-OneVision     |     8B     |       Bytedance       |   57.4   |   59.59    |   41.17   |
| Qwen2-VL            |     8B     |        Alibaba        |   56.5   |   58.96    |   40.39   |
| InternVL-2          |     7B     |    Shanghai AI Lab    |   53.5   |   55.82    |   38.74   |
| Claude 3.5 Sonnet   |     -      |       Anthropic       |   51.6   |   52.90    | **44.12** |
| InternVL-Chat-V1.5  |    20B     |    Shanghai AI Lab    |   49.4   |   51.36    |   36.48   |
| Mini-Gemini-34B-HD  |    34B     |         CUHK          |   45.9   |   48.05    |   31.73   |
| GPT-4o              |     -      |        OpenAI         |   45.2   |   46.43    |   37.61   |
| CogVLM2-llama3-Chat |     8B     |    THU & Zhipu AI     |   44.6   |   45.84    |   37.25   |
| Cambrian-1-8B       |     8B     |          NYU          |   42.7   |   43.82    |   36.16   |
| Gemini-1.5-Pro      |     -      |        Google         |   38.2   |   39.63    |   29.19   |
| GPT-4o-mini         |     -      |        OpenAI         |   36.4   |   37.12    |   32.48   |
| DeepSeek-VL         |     7B     |      DeepSeek-AI      |   32.4   |   33.14    |   27.98   |
| YI-VL-34B           |    34B     |         01.AI         |   31.0   |   30.97    |   32.45   |
| LLaVA-NeXT-Qwen-72B |    72B     | Bytedance |   28.7   |   29.01    |   27.86   |
""",
    "mmbench_cn": """
|Qwen2-VL-72B | 73.4B | Alibaba | **86.3**  | **85.8**  | **86.7** |
|InternVL2-40B | 40B | Shanghai AI Lab | 85.7  | 84.9  | 86.4|
|InternVL2-Llama-76B | 76B | Shanghai AI Lab | 85.5  | 85.5  | -|
|Taiyi | - | Megvii | 85.2  | 85.0  | 85.4 |
|JT-VL-Chat-V3.0 | - | China Mobile | 84.7  | 83.5  | 85.8 |
|LLaVA-OneVision-72B | 73B | ByteDance | 84.6  | 83.9  | 85.3 |
|Step-1.5V | - | StepFun | 84.0  | 83.5  | 84.5 |
|Claude3.5-Sonnet-20241022 | - | Anthropic | 83.0  | 82.5  | 83.5 |
|**Awaker2.5-VL (ours)** | 10.8B | Metabrain AGI | 82.6  | 81.8  | 83.4 |
|GPT-4o (0513, detail-low) | - | OpenAI | 82.3  | 82.5  | 82.1 |
|LLaVA-OneVision-7B | 8B | ByteDance | 81.8  | 80.9  | 82.7 |
|GPT-4o (0513, detail-high) | - | OpenAI | 81.8 | 81.5 | 82.1 |
|InternVL2-26B | 26B | Shanghai AI Lab | 81.5  | 80.9  | 82.1 |
|CongROng | - | CloudWalk | 81.2  | 80.4  | 81.9 |
|MMAlaya2 | 26B | DataCanvas | 80.9  | 79.7  | 82.1 |
|Ovis1.6-Gemma2-9B | 10.2B | Alibaba | 80.8  | 79.5  | 82.0 |
|Qwen2-VL-7B | 8B | Alibaba | 80.5  | 80.3  | 80.6 |
|LLaVA-OneVision-72B (SI)\t| 73B | ByteDance | 80.0 | 81.9 | 78.0 |
|InternVL-Chat-V1.5 | 26B | Shanghai AI Lab | 79.9 | 79.1 | 80.7 |
|InternLM-XComposer2.5 | 8B | Shanghai AI Lab | 79.9 | 78.8 | 80.9 |
|GPT-4o (0806, detail-high) | - | OpenAI | 79.8  | 79.2 | 80.3 |
|GPT-4V (0409, detail-high) | - | OpenAI | 79.2  | 78.2 | 80.2 |
""",
    "mmbench": """
|Qwen2-VL-72B  | 73.4B  | Alibaba  | **86.5**   | **86.1**  | **86.9** |
|InternVL2-40B  | 40B  | Shanghai AI Lab  | 86.0   | 85.1   | 86.8 |
|Taiyi  |  - | Megvii  | 85.7   | 84.7   | 86.7 |
|InternVL2-Llama-76B  | 76B  | Shanghai AI Lab  | 85.5   | 85.5   | - |
|LLaVA-OneVision-72B  | 73B  | ByteDance  | 85.4   | 85.0   | 85.8 |
|JT-VL-Chat-V3.0  | -  | China Mobile  | 84.5   | 83.6   | 85.4 |
|**Awaker2.5-VL (ours)** | 10.8B  | Metabrain AGI  | 83.7   | 82.5   | 84.9 |
|GPT-4o (0513, detail-high) | - | OpenAI | 83.2 | 83.0 | 83.4 |
|GPT-4o (0513, detail-low)  |  - | OpenAI  | 83.2   | 83.1   | 83.3 |
|Step-1.5V  | -  | StepFun  | 82.9   | 80.4   | 85.3 |
|InternVL2-26B  | 26B  | Shanghai AI Lab  | 82.5   | 81.5   | 83.4 |
|Ovis1.6-Gemma2-9B  | 10.2B  | Alibaba  | 82.5   | 81.5   | 83.4 |
|RBDash-v1.2-72B  | 79B  | DLUT  | 82.5   | 81.7   | 83.2 |
|Qwen2-VL-7B  | 8B  | Alibaba  | 82.4   | 81.8   | 83.0 |
|LLaVA-OneVision-7B  | 8B  | ByteDance  | 82.1   | 80.9   | 83.2 |
|GPT-4o (0806, detail-high) |  - | OpenAI  | 82.0   | 81.8   | 82.1 |
|LLaVA-OneVision-72B (SI) | 73B | ByteDance | 81.9 | 83.3 | 80.5 |
|Qwen-VL-Plus-0809  |  - | Alibaba  | 81.9   | 81.1   | 82.7 | 
|CongROng  |  - | CloudWalk  | 81.9   | 80.9   | 82.8 |
|Claude3.5-Sonnet-20241022  | - | Anthropic  | 81.8   | 80.9   | 82.6 |
|MMAlaya2  | 26B  | DataCanvas  | 81.6   | 80.6   | 82.5 |
|InternVL-Chat-V1.5  | 26B  | Shanghai AI Lab  | 81.3 | 80.3 | 82.3 |
|InternLM-XComposer2.5  | 8B  | Shanghai AI Lab  | 81.1 | 80.1 | 82.0 |
|GPT-4V (0409, detail-high)  |  - | OpenAI  | 80.5   | 80.0 | 81.0 |
""",
}


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _readme_rows(key: str) -> list[list[str]]:
    rows = []
    for line in README[key].strip().splitlines():
        cells = _cells(line)
        cells[0] = cells[0].replace("**", "").replace(" (ours)", "")  # the README's own "ours" marking
        rows.append(cells)
    return rows


def _table_rows(markdown: str) -> list[list[str]]:
    lines = [ln for ln in markdown.splitlines() if ln.startswith("| ")]
    return [_cells(ln) for ln in lines[2:]]  # skip header + alignment


@pytest.mark.parametrize("key", sorted(README))
def test_published_rows_alone_reproduce_readme_numbers_order_and_bold(key):
    rendered = render_table(TABLES[key], [], "md")
    assert _table_rows(rendered) == _readme_rows(key)
    assert "★" not in rendered and "Notes" not in rendered


def test_published_mmbench_overall_is_mean_of_versions():
    for key in ("mmbench", "mmbench_cn"):
        table = TABLES[key].load()
        mean = table[["v1_1", "v1_0"]].mean(axis=1)  # v1.1 alone where v1.0 is "-"
        assert ((mean - table["overall"]).abs() <= 0.05 + 1e-9).all()
    assert len(TABLES["mmbench"].load()) == 24 and len(TABLES["mmbench_cn"].load()) == 22


def test_our_run_inserted_by_overall_marked_with_interval_and_subset_note():
    bench = BenchmarkConfig(name="mme_realworld", kind="mme_realworld", language="en", split="test",
                            max_pixels=1_003_520)
    scores = {"overall": 0.5712, "perception": 0.5901, "reasoning": 0.4399, "n": 23_609,
              "ci": {"overall": [0.5648, 0.5776]}}
    rows = _table_rows(render_leaderboard(scores, "qwen2-vl (ours)", bench, get_benchmark("mme_realworld")))
    names = [r[0] for r in rows]
    assert names.index("qwen2-vl (ours) ★") == names.index("LLaVA-OneVision") + 1  # 57.4 > 57.1 > 56.5
    ours = rows[names.index("qwen2-vl (ours) ★")]
    assert ours[3:] == ["57.1", "59.01", "43.99", "[56.5, 57.8]"]
    assert rows[0][-1] == "-"
    text = render_leaderboard(scores, "qwen2-vl (ours)", bench, get_benchmark("mme_realworld"))
    assert "n=23,609 items" in text and "max_pixels=1003520" in text and "subset" not in text


def test_mmbench_dev_run_gets_dev_vs_test_note_and_version_column():
    bench = {"name": "mmbench_dev_en_v11", "kind": "mmbench", "language": "en", "version": "v11", "split": "dev",
             "protocol": "vlmevalkit", "extractor": "can_infer_2024", "min_pixels": 1_003_520, "max_pixels": None}
    text = render_leaderboard({"overall": 0.8, "n_questions": 1000, "ci": {"overall": [0.78, 0.82]}}, "ours", bench,
                              get_benchmark("mmbench"))
    row = next(r for r in _table_rows(text) if r[0] == "ours ★")
    assert row[2:] == ["this run", "80.0", "80.0", "-", "[78.0, 82.0]"]
    assert "DEV-split CircularEval" in text and "TEST-server" in text
    assert "Overall = v1.1 only" in text and "protocol 'vlmevalkit'" in text
    assert "min_pixels=1003520, max_pixels=processor default" in text and "None" not in text


def test_table_cli_sweep_merges_mmbench_versions_and_formats(tmp_path, capsys):
    v11 = mmbench_predictions(n_questions=60, seed=1)
    v10 = mmbench_predictions(n_questions=60, seed=2)
    write_run(tmp_path / "sweep" / "0", v11, kind="mmbench", name="mmbench", version="v11", split="dev")
    write_run(tmp_path / "sweep" / "1", v10, kind="mmbench", name="mmbench", version="v10", split="dev")
    assert table_cli.main([str(tmp_path / "sweep"), "--format", "csv"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    ours = table[table["ours"]]
    assert len(ours) == 1 and len(table) == 25
    from awaker_eval.score import score_predictions

    s11, s10 = (score_predictions(get_benchmark("mmbench"), p)["overall"] for p in (v11, v10))
    assert ours["v1_1"].iloc[0] == pytest.approx(100 * s11) and ours["v1_0"].iloc[0] == pytest.approx(100 * s10)
    assert ours["overall"].iloc[0] == pytest.approx(50 * (s11 + s10))
    assert table_cli.main([str(tmp_path / "sweep"), "--format", "latex"]) == 0
    latex = capsys.readouterr().out
    assert r"\textbf{86.5}" in latex and r"awaker $\star$" in latex and r"95\% CI (ours)" in latex


def test_table_cli_published_only_and_errors(tmp_path, capsys):
    assert table_cli.main(["--benchmark", "MME-RealWorld-CN"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("### MME-RealWorld-CN") and "| Qwen2-VL | 8B | Alibaba | 55.5 | 59.80 | 46.46 |" in out
    assert table_cli.main([str(tmp_path)]) == 2
    assert "no run directory" in capsys.readouterr().err
    assert resolve_table("mmbench-cn", TABLES).key == "mmbench_cn"


def test_table_cli_two_mme_runs_same_model_get_distinct_labels(tmp_path, capsys):
    preds = mme_predictions(n_per_subtask=20, n_reasoning=20)
    write_run(tmp_path / "a", preds, checkpoint="ckpt/step1")
    write_run(tmp_path / "b", preds, checkpoint="ckpt/step2")
    assert table_cli.main([str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"\| awaker@step1 ★ \| - \| this run \|", out) and "awaker@step2 ★" in out
