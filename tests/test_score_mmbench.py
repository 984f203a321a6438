"""MMBench CircularEval scoring on the synthetic fixture (Prediction records and VLMEvalKit tables),
judge mode, hidden answers, the seed-table Overall and the test-server export."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from awaker_eval.extract import extract_answer
from awaker_eval.score import UNIT_COLUMNS, score_predictions, score_units
from awaker_eval.tasks.mmbench.score import seed_overall
from awaker_eval.score_cli import main as score_main
from awaker_eval.export_submission import main as export_main
from awaker_eval.types import Prediction
from awaker_eval.tasks.registry import get_benchmark


@pytest.fixture
def synthetic(fixtures_dir):
    return json.loads((fixtures_dir / "mmbench_circular_synthetic.json").read_text(encoding="utf-8"))


def _predictions(rows, extractor="can_infer_2024", judge=None) -> list[Prediction]:
    preds = []
    for r in rows:
        p = Prediction(id=str(r["index"]), benchmark="mmbench", prompt_hash="", protocol_fp="", model_fp="",
                       raw_output=r["prediction"], extracted="", extract_method="none", answer=r.get("answer"),
                       correct=None, category=r["category"], l2_category=r["l2-category"], question=r["question"],
                       choices=[[x, r[x], r[x]] for x in "ABCD" if x in r],
                       extra={"index": r["index"], "hint": None, "split": r["split"]})
        p.extracted, p.extract_method = extract_answer(get_benchmark("mmbench"), p.raw_output, p, extractor, judge)
        preds.append(p)
    return preds


def _check(m, synthetic):
    assert m["n_incomplete_questions"] == 0
    assert m["overall"] == synthetic["expected_overall_circular"] == 0.25
    assert m["vanilla_all_rows"] == synthetic["expected_vanilla_overall_all_rows"]
    assert m["vanilla_pass0"] == synthetic["expected_vanilla_overall_pass0_only"]
    assert (m["n_questions"], m["n_rows"], m["n_unparsed_passes"], m["n_failed"]) == (4, 13, 2, 0)
    assert m["l2_category"] == {"CP": 0.5, "FP-S": 0.0, "LR": 0.0}
    assert m["category"] == {"attribute_recognition": 0.0, "future_prediction": 0.0, "image_topic": 0.5}


def test_synthetic_fixture_scores_as_recorded(synthetic):
    preds = _predictions(synthetic["rows"])
    vanilla = {p.id: int(p.extracted == p.answer) for p in preds}
    assert vanilla == synthetic["expected_vanilla_hit_per_row"]
    units = score_units(get_benchmark("mmbench"), preds)
    assert list(units.columns) == UNIT_COLUMNS
    hits = dict(zip(units["unit"], units["correct"]))
    assert hits == {k: float(v) for k, v in synthetic["expected_circular_hit_exact_matching"].items()}
    assert units["n_rows"].tolist() == [4, 3, 2, 4] and units["split"].unique().tolist() == ["all"]
    _check(score_predictions(get_benchmark("mmbench"), preds), synthetic)
    # HEAD extraction gives the same result on this fixture (its expected values come from HEAD).
    _check(score_predictions(get_benchmark("mmbench"), _predictions(synthetic["rows"], "can_infer_head")), synthetic)


def test_judge_mode_and_failed_pass(synthetic):
    answers = {r["prediction"]: r["answer"] for r in synthetic["rows"]}
    preds = _predictions(synthetic["rows"], judge=lambda q, choices, pred: answers[pred])  # judge always right
    m = score_predictions(get_benchmark("mmbench"), preds)
    assert (m["overall"], m["n_judge"], m["n_unparsed_passes"]) == (0.75, 2, 0)  # Q3 still has a wrong pass
    preds[0].raw_output, preds[0].error = None, "timeout"
    m = score_predictions(get_benchmark("mmbench"), preds)
    assert (m["overall"], m["n_failed"], m["n_questions"]) == (0.5, 1, 4)
    assert score_units(get_benchmark("mmbench"), preds)["failed"].tolist() == [True, False, False, False]


def test_hidden_answers(synthetic):
    preds = _predictions([dict(r, answer=None) for r in synthetic["rows"]])
    m = score_predictions(get_benchmark("mmbench"), preds)  # MMBench TEST: counts only, no accuracy
    assert (m["answers_hidden"], m["overall"], m["n_questions"], m["n_rows"], m["n_unparsed_passes"]) == (
        True, None, 4, 13, 2)
    with pytest.raises(ValueError, match="'1': no ground-truth answer.*export-submission"):
        score_units(get_benchmark("mmbench"), preds)
    with pytest.raises(ValueError, match="'1': no ground-truth answer"):  # mixed dev/test rows
        score_predictions(get_benchmark("mmbench"), preds[:-1] + _predictions(synthetic["rows"][-1:]))


@pytest.mark.parametrize("suffix", [".tsv", ".xlsx", ".csv"])
def test_vlmevalkit_table_through_cli(synthetic, tmp_path, capsys, suffix):
    frame = pd.DataFrame(synthetic["rows"]).rename(columns={"l2-category": "L2-category"})
    path = tmp_path / f"Qwen2-VL-7B_MMBench_DEV_EN{suffix}"
    if suffix == ".xlsx":
        frame.to_excel(path, index=False)
    else:
        frame.to_csv(path, sep="\t" if suffix == ".tsv" else ",", index=False)
    items = tmp_path / "items.jsonl"
    assert score_main([str(path), "--benchmark", "mmbench", "--json", "--items-out", str(items)]) == 0
    _check(json.loads(capsys.readouterr().out), synthetic)
    got = {x["id"]: int(x["correct"]) for x in map(json.loads, items.read_text().splitlines())}
    assert got == synthetic["expected_vanilla_hit_per_row"]
    assert score_main([str(path), "--benchmark", "mmbench_cn"]) == 0
    assert "Overall (CircularEval)" in capsys.readouterr().out
    frame.drop(columns=["answer"]).to_csv(path.with_suffix(".tsv"), sep="\t", index=False)  # a TEST table
    assert score_main([str(path.with_suffix(".tsv")), "--benchmark", "mmbench"]) == 0
    assert "answers hidden (MMBench TEST): 4 questions, 13 rows" in capsys.readouterr().out


def test_missing_passes_are_counted(synthetic):
    """A question scored on a subset of its rotations is reported (N passes for N options)."""
    preds = _predictions(synthetic["rows"])
    m = score_predictions(get_benchmark("mmbench"), [p for p in preds if p.id != "1000001"])
    assert (m["n_incomplete_questions"], m["n_questions"], m["n_rows"]) == (1, 4, 12)


def test_bad_table_index_names_the_row(synthetic, tmp_path, capsys):
    frame = pd.DataFrame(synthetic["rows"]).astype({"index": object})
    frame.loc[2, "index"] = "x7"
    path = tmp_path / "model_MMBench_DEV_EN.tsv"
    frame.to_csv(path, sep="\t", index=False)
    assert score_main([str(path), "--benchmark", "mmbench"]) == 2
    assert f"{path}, row 2: 'index' 'x7' is not an integer" in capsys.readouterr().err


def test_seed_overall():
    assert seed_overall(82.5, 84.9) == pytest.approx(83.7)
    assert seed_overall(81.8, None) == 81.8
    with pytest.raises(ValueError):
        seed_overall(None, 80.0)


def test_export_submission(synthetic, tmp_path, capsys):
    run = tmp_path / "mmbench_test" / "awaker" / "run-1"
    run.mkdir(parents=True)
    preds = _predictions([dict(r, answer=None) for r in synthetic["rows"]])
    (run / "predictions.jsonl").write_text("".join(json.dumps(p.__dict__) + "\n" for p in reversed(preds)))
    (run / "config.yaml").write_text("benchmark:\n  kind: mmbench\n  language: cn\n  version: v11\n  split: test\n"
                                     "model:\n  name: awaker\n")
    assert export_main([str(run)]) == 0
    out = run / "awaker_MMBench_TEST_CN_V11.xlsx"
    frame = pd.read_excel(out)
    assert frame["index"].tolist() == sorted(r["index"] for r in synthetic["rows"])
    assert list(frame.columns) == ["index", "question", "hint", "A", "B", "C", "D", "prediction", "category",
                                   "l2-category", "split"]
    first = frame.iloc[0]
    assert (first["A"], first["D"], first["prediction"], first["l2-category"]) == (
        "apple", "durian", "B", "coarse_perception")
    assert pd.isna(frame.set_index("index").loc[3, "C"])  # 2-option question
    preds[4].raw_output, preds[4].error = None, "OOM"
    (run / "predictions.jsonl").write_text("".join(json.dumps(p.__dict__) + "\n" for p in preds[:-1]))
    assert export_main([str(run)]) == 2
    assert "failed sample" in capsys.readouterr().err
    assert export_main([str(run), "--allow-failed", "--out", str(tmp_path / "s.xlsx")]) == 0
    assert "1 question(s) whose circular rows" in capsys.readouterr().err  # the dropped last row of Q4
