"""A run with more failed samples than ``runner.max_failed_fraction`` allows (default 0): every output is written but
marked invalid (scores.json, run.json, the leaderboard row, the report headline) and the process exits 1 naming the
count and the first error. Failed judge calls are gated by benchmark.judge.max_failures, not here."""

from __future__ import annotations

import json

import pytest
from test_data_mme_realworld import official_rows, png, write_official
from test_openai_fakeserver import FakeChatServer, Reply

from awaker_eval import cli
from awaker_eval.run_validity import check_failed_samples, failed_samples, invalid_mark
from awaker_eval.types import Prediction


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


def _pred(i: int, error: str | None = None, method: str = "rule") -> Prediction:
    return Prediction(id=f"q{i}", benchmark="b", prompt_hash="", protocol_fp="", model_fp="", raw_output=None,
                      extracted="", extract_method=method, answer="A", correct=False, error=error)


def test_the_fraction_is_of_all_samples_and_judge_failures_are_not_counted():
    preds = [_pred(0), _pred(1, "HTTP 500"), _pred(2, "judge: no reply", "judge_failed"), _pred(3, "OOM")]
    assert [p.id for p in failed_samples(preds)] == ["q1", "q3"]
    assert invalid_mark(preds, 0.5) is None  # 2 of 4 is not above one half
    assert invalid_mark(preds, 0.49) == {"reason": "too many failed samples", "n_failed": 2, "n_total": 4,
                                         "max_failed_fraction": 0.49, "first_error": "HTTP 500",
                                         "first_failed_id": "q1"}
    assert invalid_mark(preds[:1] + preds[2:3], 0.0) is None  # only a judge failure: benchmark.judge decides
    with pytest.raises(RuntimeError, match=r"^INVALID: 2 of 4 samples failed, more than runner.max_failed_fraction"
                                           r"=0.0 allows; first error \(sample q1\): HTTP 500\. The outputs"):
        check_failed_samples(preds, 0.0)


def _assert_marked(run_dir, n_failed: int, n_total: int, first_error: str) -> None:
    scores = json.loads((run_dir / "scores.json").read_text())
    mark = scores["invalid"]
    assert (mark["n_failed"], mark["n_total"], mark["max_failed_fraction"], mark["first_error"]) == (
        n_failed, n_total, 0.0, first_error)
    assert json.loads((run_dir / "run.json").read_text())["invalid"] == mark
    ours = [line for line in (run_dir / "leaderboard.md").read_text().splitlines() if "this run" in line]
    assert len(ours) == 1 and ours[0].startswith("| ") and "✗ INVALID ★ |" in ours[0]
    report = (run_dir / "report.html").read_text(encoding="utf-8")
    headline = report.split('<section id="headline">')[1].split("</section>")[0]
    assert "INVALID RESULT: these numbers do not stand" in report.split('<section id="headline">')[0]
    assert "✗ INVALID" in headline


def test_a_run_whose_every_request_failed_exits_1_with_its_outputs_marked(tmp_path, capsys):
    """The server answers 500 to every request: this used to write a 0% leaderboard row and exit 0."""
    reply = Reply(500, {"error": {"message": "internal error"}})
    argv = ["benchmark.limit=3", "runner.progress=false", "runner.bootstrap_samples=20",
            f"benchmark.cache_dir={tmp_path / 'data'}", "model=openai_api", "model.api_model=m", "model.max_retries=0",
            "model.api_key_env=AWAKER_NO_SUCH_KEY", f"output_dir={tmp_path / 'run'}"]
    with FakeChatServer(lambda body: reply) as server:
        with pytest.raises(SystemExit) as stop:
            cli.main([*argv, f"model.base_url={server.url}"])
    assert stop.value.code == 1
    first_error = json.loads((tmp_path / "run" / "predictions.jsonl").read_text().splitlines()[0])["error"]
    assert first_error.startswith("HTTP 500")
    err = capsys.readouterr().err.splitlines()
    first_id = json.loads((tmp_path / "run" / "predictions.jsonl").read_text().splitlines()[0])["id"]
    assert err[-1] == (f"error: INVALID: 3 of 3 samples failed, more than runner.max_failed_fraction=0.0 allows; "
                       f"first error (sample {first_id}): {first_error}. The outputs are written and marked invalid; "
                       "fix the cause and rerun the same command (failed samples are retried), or raise "
                       "runner.max_failed_fraction")
    _assert_marked(tmp_path / "run", 3, 3, first_error)
    run = tmp_path / "run"
    assert cli.main(["compare", str(run), str(run), "--max-drop", "100"]) == 2  # no gate over numbers that do not stand
    assert capsys.readouterr().err.splitlines()[-1].startswith(f"error: {run}: INVALID: 3 of 3 samples failed")


def test_one_failed_sample_of_three_local_default_and_raised_fraction(tmp_path, tiny_cache_dir, capsys):
    """Local models alike: one image qwen_vl_utils refuses fails its sample; the default 0.0 makes the run invalid
    (exit 1), runner.max_failed_fraction=0.5 accepts it (exit 0, the mark gone on the rerun)."""
    path, root = write_official(tmp_path, official_rows())
    (root / "mo" / "b.png").write_bytes(png(6000, 20))
    argv = [f"benchmark.source={path}", f"benchmark.image_root={root}", "benchmark.layout=official_json",
            f"model.cache_dir={tiny_cache_dir}", f"benchmark.cache_dir={tmp_path / 'data'}", "runner.progress=false",
            "runner.bootstrap_samples=20", "benchmark.max_new_tokens=2", f"output_dir={tmp_path / 'run'}"]
    with pytest.raises(SystemExit) as stop:
        cli.main(argv)
    assert stop.value.code == 1
    error = "ValueError: absolute aspect ratio must be smaller than 200, got 300.0"
    assert f"error: INVALID: 1 of 3 samples failed, more than runner.max_failed_fraction=0.0 allows; first error " \
           f"(sample perception/monitoring/Vehicle/counting/0310): {error}." in capsys.readouterr().err
    _assert_marked(tmp_path / "run", 1, 3, error)
    assert cli.main([*argv, "runner.max_failed_fraction=0.5"]) == 0  # same directory: not a result setting
    scores = json.loads((tmp_path / "run" / "scores.json").read_text())
    assert "invalid" not in scores and scores["n_failed"] == 1
    assert "INVALID" not in (tmp_path / "run" / "leaderboard.md").read_text()
    assert "invalid" not in json.loads((tmp_path / "run" / "run.json").read_text())
