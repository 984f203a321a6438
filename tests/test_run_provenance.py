"""Whole runs on a 3-item TSV with the tiny model: stale resumes after data edits, provenance that accumulates
(attempts; config.yaml written once; failed invocations leave a finished run untouched) and the run-dir lock."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import socket
import subprocess
import sys

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from PIL import Image

from awaker_eval.app import CONF_DIR
from awaker_eval.attempts import Attempt, record_failure, record_start
from awaker_eval.config.schema import RunConfig, register_configs
from awaker_eval.resolve import load_samples
from awaker_eval.engine.identity import data_digest
from awaker_eval.pipeline import evaluate
from awaker_eval.run_lock import RunDirBusy, RunDirUnusable, run_dir_lock
from awaker_eval.rundir import RunDirMismatch, default_run_id
from awaker_eval.sample_io import SampleEncoder
from awaker_eval.tasks.registry import get_benchmark

OPTS = ["(A) 458", "(B) 457", "(C) 456", "(D) 455", "(E) none of these"]
FINISHED = ("config.yaml", "predictions.jsonl", "scores.json", "leaderboard.md", "report.html")


def png_b64(w: int, colour=(200, 10, 10)) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (w, 28), colour).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def rows(answers="ABE", questions=("Q0?", "Q1?", "Q2?"), colours=((200, 10, 10),) * 3) -> list[dict]:
    return [{"index": 10 + i, "image": png_b64(28 + i, colours[i]), "question": questions[i],
             "multi-choice options": "The choices are listed below:\n" + "\n".join(OPTS), "answer": answers[i],
             "category": "Perception/Autonomous_Driving", "l2-category": "Object_Count"} for i in range(3)]


def write_tsv(path, table: list[dict]):
    pd.DataFrame(table).to_csv(path, sep="\t", index=False)
    return path


def make_cfg(tmp_path, tiny_cache_dir, tsv, *extra: str) -> RunConfig:
    register_configs()
    overrides = [
        "benchmark=mme_realworld", "benchmark.layout=tsv", f"benchmark.source={tsv}",
        f"benchmark.cache_dir={tmp_path / 'data'}", "benchmark.min_pixels=3136", "benchmark.max_pixels=12544",
        f"model.cache_dir={tiny_cache_dir}", f"results_root={tmp_path / 'results'}",
        "runner.progress=false", "runner.bootstrap_samples=50", *extra,
    ]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return OmegaConf.to_object(compose("config", overrides=overrides))


def snapshot(run_dir) -> dict[str, bytes]:
    return {name: (run_dir / name).read_bytes() for name in FINISHED}


def run_json(run_dir) -> dict:
    return json.loads((run_dir / "run.json").read_text())


@pytest.fixture(scope="module")
def finished(tmp_path_factory, tiny_cache_dir):
    """A finished 3-item run (output_dir) and its TSV; tests copy it before touching it."""
    tmp = tmp_path_factory.mktemp("finished")
    tsv = write_tsv(tmp / "items.tsv", rows())
    cfg = make_cfg(tmp, tiny_cache_dir, tsv, f"output_dir={tmp / 'run'}")
    return tmp, tsv, evaluate(cfg)


@pytest.fixture
def copy(finished, tmp_path, tiny_cache_dir):
    """A copy of the finished run (same TSV path) and a config factory pointing at it."""
    tmp, tsv, run_dir = finished
    target = tmp_path / "run"
    shutil.copytree(run_dir, target)
    return target, tsv, lambda *extra, source=tsv: make_cfg(tmp, tiny_cache_dir, source, f"output_dir={target}", *extra)


def test_edited_answer_is_recomputed_and_scored_against_the_new_answer(copy, tmp_path, tiny_cache_dir):
    run_dir, tsv, cfg = copy
    original = write_tsv(tmp_path / "orig.tsv", rows())
    stored = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
    new_answer = next(x for x in "ABCDE" if x not in (stored[0]["answer"], stored[0]["extracted"]))
    edited_answers = new_answer + "BE"
    write_tsv(tsv, rows(answers=edited_answers))
    try:
        evaluate(cfg())
        meta = run_json(run_dir)
        assert meta["counts"] == {"total": 3, "done": 1, "skipped": 2, "failed": 0}
        assert meta["invalidated"] == {"answer": 1}
        assert meta["attempts"][-1]["invalidated"] == {"answer": 1}
        fresh = evaluate(make_cfg(tmp_path, tiny_cache_dir, tsv, f"output_dir={tmp_path / 'fresh'}"))
        scores = json.loads((run_dir / "scores.json").read_text())
        assert scores["overall"] == json.loads((fresh / "scores.json").read_text())["overall"]
        preds = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
        assert [p["answer"] for p in preds] == list(edited_answers)
        assert preds[0]["correct"] is False
    finally:
        shutil.copy(original, tsv)


def test_a_different_tsv_under_the_same_name_reuses_nothing(copy):
    run_dir, tsv, cfg = copy
    keep = tsv.read_bytes()
    write_tsv(tsv, rows(answers="CDA", questions=("Which?", "How many?", "Where?"), colours=((1, 2, 3),) * 3))
    try:
        evaluate(cfg())
        meta = run_json(run_dir)
        assert meta["counts"]["done"] == 3 and meta["counts"]["skipped"] == 0
        assert meta["invalidated"] == {"answer": 3}
    finally:
        tsv.write_bytes(keep)


def test_default_run_id_follows_the_data_content(tmp_path, tiny_cache_dir):
    tsv = write_tsv(tmp_path / "t.tsv", rows())
    cfg = make_cfg(tmp_path, tiny_cache_dir, tsv)

    def run_id() -> str:
        samples = load_samples(cfg.benchmark)
        keys = SampleEncoder(get_benchmark("mme_realworld"), cfg.benchmark.protocol, 3136, 12544).prompt_keys(samples)
        return default_run_id(cfg, data_digest(samples, keys))

    first = run_id()
    assert run_id() == first
    write_tsv(tsv, rows(colours=((200, 10, 10), (0, 0, 255), (200, 10, 10))))  # one image repainted
    assert run_id() != first


def test_resume_and_other_engine_settings_accumulate_attempts(copy, finished):
    run_dir, _, cfg = copy
    finished_dir = finished[2]
    before = run_json(run_dir)
    config = (run_dir / "config.yaml").read_bytes()
    evaluate(cfg("runner.batch_size=2"))
    meta = run_json(run_dir)
    assert (run_dir / "config.yaml").read_bytes() == config  # the first settings stay
    first, second = meta["attempts"]
    assert first == before["attempts"][0]
    assert first["counts"] == {"total": 3, "done": 3, "skipped": 0, "failed": 0, "invalidated": 0}
    assert first["status"] == "ok" and first["timings_s"]["engine_total"] > 0 and first["settings_diff"] == {}
    assert second["counts"] == {"total": 3, "done": 0, "skipped": 3, "failed": 0, "invalidated": 0}
    moved = [str(finished_dir), str(run_dir)]  # the copy was made in another directory
    assert second["settings_diff"] == {"runner.batch_size": [8, 2], "output_dir": moved} and second["status"] == "ok"


def test_failed_invocations_leave_the_finished_run_untouched(copy, monkeypatch):
    run_dir, _, cfg = copy
    files = snapshot(run_dir)
    with pytest.raises(Exception):
        evaluate(cfg("runner.batch_size=-2"))
    assert snapshot(run_dir) == files
    assert b"batch_size: 8" in files["config.yaml"]

    from awaker_eval import pipeline

    def crash(*args, **kwargs):
        raise RuntimeError("model died")

    monkeypatch.setattr(pipeline, "run_inference", crash)
    with pytest.raises(RuntimeError, match="model died"):
        evaluate(cfg("runner.num_workers=0"))
    assert snapshot(run_dir) == files
    meta = run_json(run_dir)
    assert meta["attempts"][0]["status"] == "ok" and meta["counts"]["done"] == 3
    last = meta["attempts"][-1]
    assert (last["status"], last["error"]) == ("failed", "RuntimeError: model died")
    assert last["pid"] == os.getpid() and "counts" not in last


def test_other_result_settings_are_refused_for_a_run_directory(copy):
    run_dir, _, cfg = copy
    files, meta = snapshot(run_dir), run_json(run_dir)
    with pytest.raises(RunDirMismatch, match=r"config.yaml was made with other settings \(benchmark.limit: None "
                                             r"there, 2 now\): pass another output_dir"):
        evaluate(cfg("benchmark.limit=2"))
    assert snapshot(run_dir) == files and run_json(run_dir) == meta


def test_choice_padding_belongs_to_choice_runs_only(copy, tmp_path, tiny_cache_dir):
    """``model.choice_padding`` changes choice scores only: a generate run's default id (and so an existing
    generate run directory) ignores it; a choice run's id and directory check do not."""
    run_dir, tsv, cfg = copy

    def run_id(*extra):
        return default_run_id(make_cfg(tmp_path, tiny_cache_dir, tsv, *extra), "digest")

    assert run_id("model.choice_padding=left") == run_id("model.choice_padding=right")
    assert run_id("runner.mode=choice", "model.choice_padding=left") != run_id("runner.mode=choice")
    before = len(run_json(run_dir)["attempts"])
    evaluate(cfg("model.choice_padding=left"))  # the finished generate run: resumed, nothing recomputed
    attempt = run_json(run_dir)["attempts"][-1]
    assert len(run_json(run_dir)["attempts"]) == before + 1 and attempt["counts"]["done"] == 0
    assert attempt["counts"]["skipped"] == 3


def test_a_second_invocation_on_a_locked_run_directory_exits_2_naming_the_holder(copy):
    run_dir, tsv, cfg = copy
    files = snapshot(run_dir)
    with run_dir_lock(run_dir):
        with pytest.raises(RunDirBusy, match=rf"is in use by another run \(pid {os.getpid()} on host "):
            evaluate(cfg())
        args = [sys.executable, "-m", "awaker_eval", "benchmark=mme_realworld", "benchmark.layout=tsv",
                f"benchmark.source={tsv}", f"benchmark.cache_dir={run_dir.parent / 'data'}",
                f"output_dir={run_dir}", "runner.progress=false"]
        out = subprocess.run(args, capture_output=True, text=True, timeout=300,
                             env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert out.returncode == 2, out.stderr[-2000:]
    lines = out.stderr.strip().splitlines()
    assert lines[-1].startswith(f"error: {run_dir} is in use by another run (pid {os.getpid()} on host "
                                f"{socket.gethostname()}, started 20")
    assert "Traceback" not in out.stderr
    assert snapshot(run_dir) == files
    assert len(run_json(run_dir)["attempts"]) == 1


def test_an_attempt_that_died_without_a_record_is_marked_killed_by_the_next(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"counts": {"done": 5}, "attempts": [
        {"id": "a", "status": "ok"}, {"id": "b", "status": "running", "pid": 1}]}))
    attempt = Attempt(settings_diff={"runner.batch_size": [8, 4]})
    record_start(tmp_path, attempt)
    meta = run_json(tmp_path)
    assert [(a["id"], a["status"]) for a in meta["attempts"]] == [("a", "ok"), ("b", "killed"), (attempt.id, "running")]
    assert meta["counts"] == {"done": 5} and meta["attempts"][2]["finished"] is None
    record_failure(tmp_path, attempt, KeyboardInterrupt())
    meta = run_json(tmp_path)
    assert [(a["id"], a["status"]) for a in meta["attempts"]] == [
        ("a", "ok"), ("b", "killed"), (attempt.id, "interrupted")]
    assert meta["attempts"][1]["error"] == "ended without a final record (killed, or the machine stopped)"
    assert meta["attempts"][2]["settings_diff"] == {"runner.batch_size": [8, 4]}


def test_a_corrupt_run_json_does_not_stop_the_record(tmp_path, caplog):
    (tmp_path / "run.json").write_text("{torn")
    record_start(tmp_path, Attempt(settings_diff={}))
    assert [a["status"] for a in run_json(tmp_path)["attempts"]] == ["running"]
    assert "run.json is unreadable" in caplog.text


def test_settings_added_by_a_newer_version_do_not_strand_a_run(copy):
    run_dir, _, cfg = copy
    config = run_dir / "config.yaml"
    text = config.read_text()
    assert "  protocol: official\n" in text and text.count("  mode: generate\n") == 1
    config.write_text(text.replace("  mode: generate\n", ""))  # as if written before runner.mode existed
    from awaker_eval.rundir import check_same_results, settings_diff

    diff = settings_diff(run_dir, cfg())
    assert diff["runner.mode"] == [None, "generate"]
    check_same_results(run_dir, diff)
    config.write_text(text.replace("  protocol: official\n", "  protocol: lmms_eval\n"))
    with pytest.raises(RunDirMismatch, match="benchmark.protocol: 'lmms_eval' there, 'official' now"):
        check_same_results(run_dir, settings_diff(run_dir, cfg()))


def test_a_run_directory_that_cannot_be_locked_is_one_clear_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunDirUnusable, match=r"cannot lock .*file/run/.lock \(Not a directory\): the run "
                                             r"directory must be writable"):
        with run_dir_lock(tmp_path / "file" / "run"):
            pass
    lock = tmp_path / "ok"
    with run_dir_lock(lock) as path:
        info = json.loads(path.read_text())
        assert info["pid"] == os.getpid() and info["host"] == socket.gethostname()
    with run_dir_lock(lock):  # released when the block ended
        pass
