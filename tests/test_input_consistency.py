"""score / compare / table / report refuse inputs that disagree (issue 9, defect 4): the wrong benchmark, two
models or protocols in one file, and a ``scores.json`` that disagrees with its ``predictions.jsonl``."""

from __future__ import annotations

import dataclasses
import json

import pytest
from test_report_support import mmbench_predictions, mme_predictions, write_run

from awaker_eval.engine.store import prediction_to_json
from awaker_eval.report import compare_cli, table_cli
from awaker_eval.report.runs import find_runs
from awaker_eval.tasks.registry import catalogue
from awaker_eval.score_cli import main as score_main


def _write(path, preds):
    path.write_text("".join(prediction_to_json(p) + "\n" for p in preds))
    return str(path)


def test_mme_predictions_scored_as_mmbench_are_refused(tmp_path, capsys):
    preds = mme_predictions(n_per_subtask=5, n_reasoning=5)
    path = _write(tmp_path / "predictions.jsonl", preds)
    assert score_main([path, "--benchmark", "mmbench", "--json"]) == 2
    assert capsys.readouterr().err == (
        f"awaker-eval score: error: {path}: predictions of benchmark 'mme_realworld' (mme_realworld) cannot be "
        "scored as mmbench\n")
    renamed = _write(tmp_path / "renamed.jsonl", [dataclasses.replace(p, benchmark="my_bench") for p in preds])
    assert score_main([renamed, "--benchmark", "mmbench"]) == 2  # caught by shape when the name says nothing
    assert capsys.readouterr().err == (
        f"awaker-eval score: error: {renamed}: not mmbench predictions: 25 of 25 predictions carry an "
        "MME-RealWorld task (e.g. 'mme-0': task 'Perception'); MMBench rows have circular groups and categories, "
        "not tasks\n")
    mmb = _write(tmp_path / "mmb.jsonl", [dataclasses.replace(p, benchmark="x") for p in mmbench_predictions(4)])
    assert score_main([mmb, "--benchmark", "mme_realworld"]) == 2
    assert capsys.readouterr().err == (
        f"awaker-eval score: error: {mmb}: not mme_realworld predictions: 12 of 12 predictions carry an MMBench L2 "
        "category and no task (e.g. '0': 'coarse_perception')\n")


def test_a_file_mixing_two_models_is_refused_by_score_and_compare(tmp_path, capsys):
    preds = mme_predictions(n_per_subtask=5, n_reasoning=5)
    mixed = preds[:10] + [dataclasses.replace(p, model_fp="other-model") for p in preds[10:]]
    path = _write(tmp_path / "mixed.jsonl", mixed)
    assert score_main([path, "--benchmark", "mme_realworld"]) == 2
    message = (f"{{}}: predictions of more than one run (model fingerprints 'model' and 'other-model'): score each "
               "run's predictions separately\n")
    assert capsys.readouterr().err == "awaker-eval score: error: " + message.format(path)
    base = write_run(tmp_path / "base", preds, n_boot=20)
    new = write_run(tmp_path / "new", mixed, n_boot=20)
    assert compare_cli.main([str(base), str(new)]) == 2
    assert capsys.readouterr().err == "error: " + message.format(new / "predictions.jsonl")
    protocols = [dataclasses.replace(p, protocol_fp=f"proto{i % 2}") for i, p in enumerate(preds)]
    assert score_main([_write(tmp_path / "p.jsonl", protocols), "--benchmark", "mme_realworld"]) == 2
    assert "(protocol fingerprints 'proto0' and 'proto1')" in capsys.readouterr().err


def test_hand_edited_scores_are_recomputed_with_a_warning(tmp_path, capsys):
    preds = mme_predictions(n_per_subtask=5, n_reasoning=5)
    run_dir = write_run(tmp_path / "run", preds, n_boot=20)
    true_overall = json.loads((run_dir / "scores.json").read_text())["overall"]
    scores = json.loads((run_dir / "scores.json").read_text())
    scores["overall"] = 0.99
    (run_dir / "scores.json").write_text(json.dumps(scores))
    [run] = find_runs([run_dir], catalogue())
    assert run.scores["overall"] == true_overall
    assert "ci" not in run.scores and "ci" in run.scores_with_ci(n_boot=20)  # stale intervals recomputed too
    warning = (f"warning: {run_dir / 'scores.json'} disagrees with predictions.jsonl (overall 0.99 vs "
               f"{true_overall!r}): using the scores recomputed from the predictions\n")
    assert capsys.readouterr().err == warning and run.warnings == [warning[len("warning: "):-1]]
    assert table_cli.main([str(run_dir), "--n-boot", "100"]) == 0
    out = capsys.readouterr()
    assert out.err == warning and f"{100 * true_overall:.1f}" in out.out and "99.0" not in out.out


def test_clean_run_loads_without_warning_and_keeps_its_stored_scores(tmp_path, capsys):
    run_dir = write_run(tmp_path / "run", mmbench_predictions(20), kind="mmbench", name="mmbench", n_boot=20)
    stored = json.loads((run_dir / "scores.json").read_text())
    [run] = find_runs([run_dir], catalogue())
    assert run.scores == stored and run.warnings == [] and capsys.readouterr().err == ""
