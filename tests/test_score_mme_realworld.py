"""MME-RealWorld scoring: the official template, the CLI, bad input, failed samples, VLMEvalKit tables."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from awaker_eval.cli import main as cli_main
from awaker_eval.score import UNIT_COLUMNS, score_predictions, score_units
from awaker_eval.score_cli import main as score_main
from awaker_eval.score.readers import reextract
from awaker_eval.tasks.mme_realworld.results import read_predictions
from awaker_eval.types import Prediction
from awaker_eval.tasks.registry import get_benchmark

TEMPLATE = "mme_realworld_output_test_template.json"


def _expected(fixtures_dir):
    return json.loads((fixtures_dir / TEMPLATE.replace(".json", ".expected.json")).read_text())


def test_official_template_matches_official_scorer(fixtures_dir):
    preds = read_predictions(fixtures_dir / TEMPLATE)
    reextract(preds, get_benchmark("mme_realworld"), "official")
    expected = _expected(fixtures_dir)
    assert [(p.id, p.extracted, p.correct) for p in preds] == [
        (e["Question_id"], e["extracted"], e["correct"]) for e in expected["per_item"]]
    m = score_predictions(get_benchmark("mme_realworld"), preds)
    assert (m["overall"], m["perception"], m["reasoning"]) == (0.4, 2 / 3, 0.0)
    assert (m["n"], m["n_perception"], m["n_reasoning"]) == (5, 3, 2)
    assert m["subtask"] == {"Monitoring": 1.0, "OCR with Complex Context": 0.0, "Diagram and Table": 0.0,
                            "Autonomous_Driving": 1.0, "Remote Sensing": 0.0}
    summary = expected["official_stdout_summary"]
    for task in ("Perception", "Reasoning"):
        assert m["e_count"][task] == summary[task]["E_choice"]
        for sub, want in summary[task]["subtasks"].items():
            got = m["subtask_by_task"][task][sub]
            assert (got["acc"], got["n"]) == (want["acc"], want["items"])
            assert got["categories"] == want.get("categories", {})
    assert m["category"] == {"diagram": 0.0, "objects_identify": 1.0, "vehicle/counting": 1.0}
    assert (m["n_failed"], m["n_unparsed"]) == (0, 0)
    assert m["avg_c"] == {"Perception": 2 / 3, "Reasoning": 0.0}

    units = score_units(get_benchmark("mme_realworld"), preds)
    assert list(units.columns) == UNIT_COLUMNS
    assert units["correct"].tolist() == [1.0, 0.0, 1.0, 0.0, 0.0]
    assert units["split"].tolist() == ["Perception"] * 3 + ["Reasoning"] * 2
    assert units["category"].tolist()[2] == "vehicle/counting"
    assert units["cluster"].tolist()[1] == "diagram_and_table/cons9.jpg"


def test_cli_json_and_items_out(fixtures_dir, tmp_path, capsys):
    items = tmp_path / "items.jsonl"
    rc = cli_main(["score", str(fixtures_dir / TEMPLATE), "--benchmark", "mme_realworld", "--json",
                   "--items-out", str(items)])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["overall"], out["perception"], out["reasoning"], out["n"]) == (0.4, 2 / 3, 0.0, 5)
    lines = [json.loads(x) for x in items.read_text().splitlines()]
    assert [(x["id"], x["extracted"], x["correct"]) for x in lines] == [
        (e["Question_id"], e["extracted"], e["correct"]) for e in _expected(fixtures_dir)["per_item"]]
    assert score_main([str(fixtures_dir / TEMPLATE), "--benchmark", "mme_realworld_cn"]) == 0
    text = capsys.readouterr().out
    assert re.search(r"Perception\s+66\.67\s+3\n", text) and re.search(r"Overall\s+40\.00\s+5\n", text)


def _pred(i: int, raw: str | None, answer: str = "A", task: str = "Perception", subtask: str = "Monitoring",
          error: str | None = None) -> Prediction:
    return Prediction(id=f"q{i}", benchmark="mme_realworld", prompt_hash="", protocol_fp="", model_fp="",
                      raw_output=raw, extracted="", extract_method="none", answer=answer, correct=None, task=task,
                      subtask=subtask, category="Vehicle/Attribute/Color", error=error,
                      choices=[[x, f"opt {x}", f"({x}) opt {x}"] for x in "ABCDE"])


def test_bad_task_and_subtask_name_the_row():
    with pytest.raises(ValueError, match=r"'q1'.*unknown Task 'Perceptio'"):
        score_predictions(get_benchmark("mme_realworld"), [_pred(0, "A"), _pred(1, "A", task="Perceptio")])
    with pytest.raises(ValueError, match=r"'q0'.*unknown Subtask 'OCR'"):
        score_predictions(get_benchmark("mme_realworld"), [_pred(0, "A", subtask="OCR")])
    with pytest.raises(ValueError, match="duplicated prediction id"):
        score_predictions(get_benchmark("mme_realworld"), [_pred(0, "A"), _pred(0, "B")])


def test_failed_sample_is_wrong_and_counted():
    preds = [_pred(0, "A"), _pred(1, None, error="CUDA OOM"), _pred(2, "E", answer="E", task="Reasoning"),
             _pred(3, "none of these")]
    reextract(preds, get_benchmark("mme_realworld"), "official")
    assert [p.extracted for p in preds] == ["A", "", "E", ""]
    m = score_predictions(get_benchmark("mme_realworld"), preds)
    assert (m["overall"], m["n"], m["perception"], m["reasoning"]) == (0.5, 4, 1 / 3, 1.0)
    assert (m["n_failed"], m["n_unparsed"], m["e_count"]) == (1, 1, {"Perception": 0, "Reasoning": 1})
    assert m["n_failed_by_task"] == {"Perception": 1, "Reasoning": 0}
    assert m["category"] == {"vehicle/attribute": 0.5}
    units = score_units(get_benchmark("mme_realworld"), preds)
    assert units["failed"].tolist() == [False, True, False, False]


def _vlmevalkit_rows() -> pd.DataFrame:
    header = "The choices are listed below:\n"
    opts = ["(A) 458", "(B) 457", "(C) 456", "(D) 455", "(E) No data."]
    rows = []
    for i, (pred, ans, cat) in enumerate([("B", "B", "Perception/Diagram and Table"),
                                          ("457", "B", "Perception/Diagram and Table"),
                                          ("The answer is C", "C", "Reasoning/Monitoring"),
                                          (None, "A", "Reasoning/Monitoring")]):
        row = {"index": i, "question": f"Q{i}", "multi-choice options": header + "\n".join(opts), "answer": ans,
               "category": cat, "l2-category": "table" if i < 2 else "calculate", "prediction": pred}
        row.update({o[1]: o[4:] for o in opts})
        rows.append(row)
    return pd.DataFrame(rows)


@pytest.mark.parametrize("suffix", [".tsv", ".xlsx"])
def test_vlmevalkit_table(tmp_path, capsys, suffix):
    frame = _vlmevalkit_rows()
    path = tmp_path / f"model_MME-RealWorld{suffix}"
    frame.to_csv(path, sep="\t", index=False) if suffix == ".tsv" else frame.to_excel(path, index=False)
    assert score_main([str(path), "--benchmark", "mme_realworld", "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    # official: "457" -> B via the real choices; the empty cell reads as "nan" -> no letter (not "A").
    assert (m["overall"], m["perception"], m["reasoning"], m["n_unparsed"]) == (0.75, 1.0, 0.5, 1)
    assert m["subtask"]["Diagram and Table"] == 1.0 and m["category"] == {"calculate": 0.5, "table": 1.0}
    assert score_main([str(path), "--benchmark", "mme_realworld", "--json", "--extractor", "fixed"]) == 0
    assert json.loads(capsys.readouterr().out)["perception"] == 0.5  # "457" -> "" with default choices


def test_cli_reports_bad_input(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([{"Question_id": "x1", "Answer choices": ["(A) a", "(B) b"], "Ground truth": "A",
                                 "Task": "Perception", "Subtask": "Underwater", "Output": "A"}]))
    assert score_main([str(path), "--benchmark", "mme_realworld", "--json"]) == 2
    assert "'x1': unknown Subtask 'Underwater'" in capsys.readouterr().err


def test_unreadable_submission_names_the_file(tmp_path, capsys):
    path = tmp_path / "submission.json"
    path.write_text('[{"Question_id": ')
    assert score_main([str(path), "--benchmark", "mme_realworld"]) == 2
    assert f"{path}: not a JSON submission file" in capsys.readouterr().err


def test_predictions_jsonl_stored_or_reextracted(tmp_path, capsys):
    preds = [_pred(0, "457", answer="B"), _pred(1, "Best answer: D", answer="D")]
    preds[0].extracted, preds[1].extracted = "B", "D"  # as stored by a run with some other extractor
    for p in preds:
        p.choices = [[x, str(458 - i), f"({x}) {458 - i}"] for i, x in enumerate("ABCDE")]
    path = tmp_path / "predictions.jsonl"
    path.write_text("".join(json.dumps(p.__dict__) + "\n" for p in preds))
    assert score_main([str(path), "--benchmark", "mme_realworld", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["overall"] == 1.0  # stored letters
    assert score_main([str(path), "--benchmark", "mme_realworld", "--json", "--extractor", "official"]) == 0
    assert json.loads(capsys.readouterr().out)["overall"] == 0.5  # "(B) 457" matches; "Best..." -> B
    assert score_main([str(path), "--benchmark", "mme_realworld", "--json", "--extractor", "fixed"]) == 0
    assert json.loads(capsys.readouterr().out)["overall"] == 0.5  # "457" -> ""; fixed prefix -> D
    path.write_text(path.read_text() + "{not json\n")
    assert score_main([str(path), "--benchmark", "mme_realworld"]) == 2
    assert f"{path}:3: not a prediction record" in capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_submission_without_any_output_is_refused(fixtures_dir, tmp_path, capsys, suffix):
    """The question file (no ``Output`` anywhere) used to score Overall 0.0 with exit 0."""
    items = json.loads((fixtures_dir / TEMPLATE).read_text())
    for item in items:
        del item["Output"]
    path = tmp_path / f"MME_RealWorld{suffix}"
    path.write_text(json.dumps(items) if suffix == ".json" else "".join(json.dumps(i) + "\n" for i in items))
    assert score_main([str(path), "--benchmark", "mme_realworld"]) == 2
    assert capsys.readouterr() == ("", f"awaker-eval score: error: {path}: none of its 5 items has an 'Output' field "
                                       "(the model's response): this is the benchmark's question file, not a "
                                       "submission\n")
    del items[1:]  # one item keeps no Output while another has one: a failed sample, scored as before
    items.append({**json.loads((fixtures_dir / TEMPLATE).read_text())[1]})
    path.write_text(json.dumps(items) if suffix == ".json" else "".join(json.dumps(i) + "\n" for i in items))
    assert score_main([str(path), "--benchmark", "mme_realworld", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_failed"] == 1
