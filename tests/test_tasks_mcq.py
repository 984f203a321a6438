"""Generic VLMEvalKit MCQ benchmarks (MMStar, AI2D, any MCQ TSV): exact prompts of both protocols through the
``prompts`` dry run, vanilla scores of VLMEvalKit result tables through ``score``, odd and bad rows."""

from __future__ import annotations

import base64
import io
import json
import math

import pandas as pd
import pytest
from PIL import Image

from awaker_eval.data.errors import DataError
from awaker_eval.data.warnings import DataWarnings
from awaker_eval.prompts_cli import main as prompts_main
from awaker_eval.score_cli import main as score_main
from awaker_eval.tasks import get_benchmark
from awaker_eval.types import Prediction

NAN = float("nan")
DEFAULT_SUFFIX = "Please select the correct answer from the options above. \n"
QWEN_SUFFIX = "Please select the correct answer from the options above."


def _png_b64(colour=(200, 30, 30)) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _rows() -> list[dict]:
    """MMStar-like rows: 4, 2 and 3 options, NaN hints, an index-referenced image, a Chinese row, an option
    cell pandas reads as NaN (``N/A``) carrying the answer, AI2D-style bare-letter options."""
    img = _png_b64()
    return [
        {"index": 0, "question": "What is shown?", "hint": NAN, "A": "a dog", "B": "a cat", "C": "a bird",
         "D": "a fish", "answer": "B", "category": "coarse perception", "l2_category": "image scene and topic",
         "image": img},
        {"index": 1, "question": "Is it day?", "hint": "Look at the sky.", "A": "yes", "B": "no", "C": NAN, "D": NAN,
         "answer": "A", "category": "coarse perception", "l2_category": "image style", "image": "0"},
        {"index": 2, "question": "图中有几只猫？", "hint": NAN, "A": "一只", "B": "两只", "C": "三只", "D": NAN,
         "answer": "B", "category": "math", "l2_category": "numeric commonsense", "image": _png_b64((0, 90, 0))},
        {"index": 3, "question": "Which one?", "hint": NAN, "A": "x1", "B": "y1", "C": "z1", "D": "N/A",
         "answer": "D", "category": "math", "l2_category": "numeric commonsense", "image": "2"},
        {"index": 4, "question": "Which label marks the leaf?", "hint": NAN, "A": "F", "B": "C", "C": NAN,
         "D": NAN, "answer": "A", "category": "science", "l2_category": "geography", "image": "0"},
    ]


@pytest.fixture
def mmstar_tsv(tmp_path):
    path = tmp_path / "MMStar_small.tsv"
    pd.DataFrame(_rows()).to_csv(path, sep="\t", index=False)
    return path


def _prompts(capsys, tmp_path, tsv, *extra) -> list[dict]:
    argv = ["benchmark=mmstar", f"benchmark.source={tsv}", f"benchmark.cache_dir={tmp_path / 'cache'}", *extra]
    assert prompts_main(argv) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def _texts(records) -> list[str]:
    return [r["messages"][0]["content"][-1]["text"] for r in records]


def test_prompts_both_protocols_exact(capsys, tmp_path, mmstar_tsv):
    default = _prompts(capsys, tmp_path, mmstar_tsv, "benchmark.protocol=vlmevalkit_default")
    qwen = _prompts(capsys, tmp_path, mmstar_tsv)  # the mmstar config's protocol: vlmevalkit_qwen2vl
    bodies = [
        "Question: What is shown?\nOptions:\nA. a dog\nB. a cat\nC. a bird\nD. a fish\n",
        "Hint: Look at the sky.\nQuestion: Is it day?\nOptions:\nA. yes\nB. no\n",
        "Question: 图中有几只猫？\nOptions:\nA. 一只\nB. 两只\nC. 三只\n",
        "Question: Which one?\nOptions:\nA. x1\nB. y1\nC. z1\n",  # D = "N/A": NaN, dropped as upstream
        "Question: Which label marks the leaf?\nOptions:\nA. F\nB. C\n",
    ]
    assert _texts(default) == [b + DEFAULT_SUFFIX for b in bodies]
    assert _texts(qwen) == [bodies[0] + QWEN_SUFFIX, bodies[1] + QWEN_SUFFIX, bodies[2] + "请直接回答选项字母。",
                            bodies[3] + QWEN_SUFFIX, bodies[4] + QWEN_SUFFIX]
    first = qwen[0]
    assert (first["id"], first["index"]) == ("0", 0)
    assert first["messages"] == [{"role": "user", "content": [
        {"type": "image", "image": "0", "min_pixels": 1003520, "max_pixels": 12845056},
        {"type": "text", "text": bodies[0] + QWEN_SUFFIX}]}]
    # index references resolve to the row holding the pixels: image keys, never decoded pixels
    assert [r["messages"][0]["content"][0]["image"] for r in qwen] == ["0", "0", "2", "2", "0"]


def test_ai2d_config_and_generic_mcq_name(capsys, tmp_path, mmstar_tsv):
    ai2d = _prompts(capsys, tmp_path, mmstar_tsv, "benchmark=ai2d", "benchmark.protocol=vlmevalkit_default",
                    "benchmark.min_pixels=null", "benchmark.max_pixels=null")
    assert ai2d[4]["messages"][0]["content"] == [
        {"type": "image", "image": "0"},
        {"type": "text", "text": "Question: Which label marks the leaf?\nOptions:\nA. F\nB. C\n" + DEFAULT_SUFFIX}]


def test_loaded_samples_and_nan_option_answer(tmp_path, mmstar_tsv):
    from awaker_eval.config.schema import BenchmarkConfig
    from awaker_eval.extract.dispatch import Extraction

    cfg = BenchmarkConfig(name="mmstar", kind="mcq", layout="tsv", source=str(mmstar_tsv),
                          cache_dir=str(tmp_path / "cache"))
    warnings = DataWarnings()
    samples = get_benchmark("mcq").load(cfg, warnings)
    assert [s.letters for s in samples] == [list("ABCD"), list("AB"), list("ABC"), list("ABC"), list("AB")]
    odd = samples[3]
    assert odd.answer == "D"
    assert {k: v["ids"] for k, v in warnings.as_dict().items()} == {"na_option_dropped": ["3"],
                                                                     "answer_on_na_option": ["3"]}
    assert (samples[0].hint, samples[1].hint) == (None, "Look at the sky.")
    assert (samples[2].category, samples[2].l2_category) == ("math", "numeric commonsense")
    assert [s.cluster for s in samples] == ["0", "0", "2", "2", "0"]
    bench = get_benchmark("mcq")
    # VLMEvalKit: the answer names an option that is not offered, so no prediction can be right
    assert bench.extract("D", odd, None) == Extraction("", "none")
    assert bench.extract("B. 两只", samples[2], None) == Extraction("B", "rule")


def _result_table(rows, predictions) -> pd.DataFrame:
    table = pd.DataFrame([{k: v for k, v in r.items() if k != "image"} for r in rows])
    table["D"] = table["D"].replace("N/A", NAN)  # VLMEvalKit writes the dataset's NaN back as an empty cell
    table["prediction"] = predictions
    return table


def test_score_vlmevalkit_xlsx_result_table(tmp_path, capsys):
    # "" -> empty cell -> "nan" (unparsed); "A_x000D_": the xlsx artefact is kept, so no whole-token A
    table = _result_table(_rows(), ["B", "", "B. 两只", "D", "A_x000D_"])
    path = tmp_path / "Qwen2-VL_MMStar.xlsx"
    table.to_excel(path, index=False)
    assert score_main([str(path), "--benchmark", "mmstar", "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["overall"] == 0.4 and (m["n"], m["n_correct"]) == (5, 2)
    assert m["category"] == {"coarse perception": 0.5, "math": 0.5, "science": 0.0}
    assert m["l2_category"] == {"geography": 0.0, "image scene and topic": 1.0, "image style": 0.0,
                                "numeric commonsense": 0.5}
    assert (m["n_unparsed"], m["n_z"], m["n_failed"]) == (3, 0, 0)
    assert math.isclose(m["chance_level"], (1 / 4 + 1 / 2 + 1 / 3 + 1 / 3 + 1 / 2) / 5)
    assert score_main([str(path), "--benchmark", "mmstar"]) == 0
    text = capsys.readouterr().out
    assert "Overall (vanilla accuracy)  40.00" in text and "numeric commonsense" in text


def test_score_table_without_l2_has_no_l2_mapping(tmp_path, capsys):
    rows = [{k: v for k, v in r.items() if k != "l2_category"} for r in _rows()]
    path = tmp_path / "AI2D_TEST_model.tsv"
    _result_table(rows, ["A", "A", "B", "C", "F"]).to_csv(path, sep="\t", index=False)
    assert score_main([str(path), "--benchmark", "ai2d", "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert "l2_category" not in m
    # row 4: "F" is option A's text, a whole token but not a letter -> text match gives A
    assert m["overall"] == 3 / 5 and m["category"] == {"coarse perception": 0.5, "math": 0.5, "science": 1.0}


def test_score_refuses_other_benchmarks(tmp_path, capsys):
    mme = Prediction(id="q1", benchmark="mme_realworld", prompt_hash="h", protocol_fp="p", model_fp="m",
                     raw_output="A", extracted="A", extract_method="rule", answer="A", correct=True,
                     task="Perception", subtask="OCR with Complex Context", choices=[["A", "x", "(A) x"]],
                     extra={"kind": "mme_realworld"})
    path = tmp_path / "predictions.jsonl"
    import dataclasses

    path.write_text(json.dumps(dataclasses.asdict(mme)) + "\n")
    assert score_main([str(path), "--benchmark", "mmstar", "--json"]) == 2
    assert "predictions of benchmark kind mme_realworld, not mcq" in capsys.readouterr().err
    assert score_main([str(path), "--benchmark", "mmbench", "--json"]) == 2
    assert "predictions of benchmark kind mme_realworld, not mmbench" in capsys.readouterr().err
    table = tmp_path / "MME-RealWorld_model.tsv"
    pd.DataFrame([{"index": 1, "question": "q", "multi-choice options": "The choices are listed below:\n(A) x",
                   "answer": "A", "category": "Perception/OCR", "prediction": "A"}]).to_csv(table, sep="\t",
                                                                                          index=False)
    assert score_main([str(table), "--benchmark", "mmstar"]) == 2
    assert "'multi-choice options' column: an MME-RealWorld table" in capsys.readouterr().err
    circular = tmp_path / "MMBench_DEV_EN_model.tsv"
    pd.DataFrame([{"index": i, "question": "q", "A": "x", "B": "y", "answer": "A", "prediction": "A"}
                  for i in (5, 1_000_005)]).to_csv(circular, sep="\t", index=False)
    assert score_main([str(circular), "--benchmark", "mcq"]) == 2
    assert "rows [1000005] are circular copies of rows [5] (MMBench): score it with --benchmark mmbench" in \
        capsys.readouterr().err


def test_bad_rows_name_file_and_row(tmp_path, capsys):
    rows = _rows()
    rows[1]["image"] = "99"  # a reference to a row that does not exist
    dangling = tmp_path / "dangling.tsv"
    pd.DataFrame(rows).to_csv(dangling, sep="\t", index=False)
    argv = ["benchmark=mcq", "benchmark.name=mine", f"benchmark.cache_dir={tmp_path / 'cache'}"]
    assert prompts_main([*argv, f"benchmark.source={dangling}"]) == 2
    err = capsys.readouterr().err
    assert f"{dangling}, row 1 (index 1): image cell '99' is neither an image nor the index of another row" in err
    no_answer = tmp_path / "no_answer.tsv"
    pd.DataFrame(_rows()).drop(columns=["answer"]).to_csv(no_answer, sep="\t", index=False)
    assert prompts_main([*argv, f"benchmark.source={no_answer}"]) == 2
    assert f"{no_answer}, row 0: no 'answer' column" in capsys.readouterr().err
    rows = _rows()
    rows[2]["answer"] = NAN
    blank = tmp_path / "blank_answer.tsv"
    pd.DataFrame(rows).to_csv(blank, sep="\t", index=False)
    assert prompts_main([*argv, f"benchmark.source={blank}"]) == 2
    assert f"{blank}, row 2 (index 2): no ground-truth answer" in capsys.readouterr().err


def test_unreadable_tsv_is_one_line_error(tmp_path, capsys):
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    argv = ["benchmark=mcq", f"benchmark.source={empty}", f"benchmark.cache_dir={tmp_path / 'cache'}"]
    assert prompts_main(argv) == 2
    assert capsys.readouterr().err == (f"awaker-eval prompts: error: {empty}: cannot read the table (EmptyDataError: "
                                       "No columns to parse from file); the file must be a non-empty UTF-8 file in "
                                       "the format its suffix names\n")


def test_image_path_confined_to_data_folder(tmp_path):
    from awaker_eval.config.schema import BenchmarkConfig

    (tmp_path / "img").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "img" / "a.png")
    rows = [{k: v for k, v in r.items() if k != "image"} for r in _rows()[:2]]
    rows[0]["image_path"], rows[1]["image_path"] = "img/a.png", "img/a.png"
    tsv = tmp_path / "paths.tsv"
    pd.DataFrame(rows).to_csv(tsv, sep="\t", index=False)
    cfg = BenchmarkConfig(name="p", kind="mcq", layout="tsv", source=str(tsv), cache_dir=str(tmp_path / "c"))
    samples = get_benchmark("mcq").load(cfg, DataWarnings())
    assert samples[0].images[0].path == str(tmp_path / "img" / "a.png") and samples[0].cluster == "img/a.png"
    rows[1]["image_path"] = "../../etc/passwd"
    pd.DataFrame(rows).to_csv(tsv, sep="\t", index=False)
    with pytest.raises(DataError, match=r"paths.tsv, row 1 \(index 1\): image path '../../etc/passwd' resolves to .* outside the image folder"):
        get_benchmark("mcq").load(cfg, DataWarnings())


def test_mmstar_run_end_to_end_on_the_tiny_model(tmp_path, mmstar_tsv, tiny_cache_dir, capsys):
    from test_tasks_registry import _compose

    from awaker_eval.engine.store import read_jsonl_predictions
    from awaker_eval.pipeline import evaluate
    from awaker_eval.engine.identity import prompt_keys

    overrides = ["benchmark=mmstar", f"benchmark.source={mmstar_tsv}", f"benchmark.cache_dir={tmp_path / 'cache'}",
                 "benchmark.max_new_tokens=4", "benchmark.min_pixels=3136", "benchmark.max_pixels=50176",
                 f"results_root={tmp_path / 'results'}", f"model.cache_dir={tiny_cache_dir}", "runner.progress=false",
                 "runner.bootstrap_samples=50"]
    run = evaluate(_compose(*overrides))
    assert run.parent.parent.name == "mmstar"
    preds = list(read_jsonl_predictions(run / "predictions.jsonl"))
    assert [p.id for p in preds] == ["0", "1", "2", "3", "4"] and preds[3].answer == "D" and not preds[3].correct
    capsys.readouterr()
    text = _texts(_prompts(capsys, tmp_path, mmstar_tsv))[2]  # the dry run builds what the run hashed
    sample = get_benchmark("mcq").load(_compose(*overrides).benchmark)[2]
    assert preds[2].prompt_hash == prompt_keys([sample], lambda s: text)[sample.id]
    scores = json.loads((run / "scores.json").read_text())
    assert scores["overall"] == sum(bool(p.correct) for p in preds) / 5
    assert set(scores["l2_category"]) == {"geography", "image scene and topic", "image style", "numeric commonsense"}
    assert set(scores["ci"]["category"]) == {"coarse perception", "math", "science"}
    assert "mmstar has no published leaderboard rows" in (run / "leaderboard.md").read_text()
    assert score_main([str(run / "predictions.jsonl"), "--benchmark", "mmstar", "--json"]) == 0
    rescored = json.loads(capsys.readouterr().out)
    assert {k: rescored[k] for k in ("overall", "category", "l2_category")} == \
        {k: scores[k] for k in ("overall", "category", "l2_category")}
