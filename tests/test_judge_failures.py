"""Judge failures are failures (issue 9, defect 2): every way a judge call can fail is recorded with its error,
counted apart from unparsed passes, never cached and retried; only real replies are cached."""

from __future__ import annotations

import json
import logging
import socket

import pytest
from test_judge_llm import DOG_CAT, make_judge, scripted
from test_openai_fakeserver import FakeChatServer, Reply, chat_reply

from awaker_eval.extract.dispatch import JUDGE_FAILED, JudgeCallError, extract_letter
from awaker_eval.extract.llm_judge import JudgeFailuresExceeded, LLMJudge, check_judge_failures, judge_config_from_dict
from awaker_eval.models.base import ModelOutput
from awaker_eval.sample_io import PredictionBuilder
from awaker_eval.score import score_predictions
from awaker_eval.score.readers import reextract
from awaker_eval.types import Sample
from awaker_eval.tasks.registry import get_benchmark

QUESTION = "Which animal is shown"
SAMPLE = Sample(id="7", benchmark="mmbench", language="en", question=QUESTION, choices=tuple(DOG_CAT), answer="B",
                group="7", category="image_style", l2_category="coarse_perception")


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # nothing listens any more: the judge died


FAILURES = {
    "http_500": (lambda body: Reply(500, {"error": {"message": "boom"}}), "HTTP 500"),
    "http_429": (lambda body: Reply(429, {"error": {"message": "slow down"}}), "HTTP 429"),
    "hang": (lambda body: Reply(payload={}, delay_s=1.5), "TimeoutError"),
    "not_an_object": (lambda body: Reply(payload="oops"), "unexpected response"),  # type: ignore[arg-type]
    "empty_choices": (lambda body: Reply(payload={"choices": []}), "response without message content"),
    "null_content": (lambda body: chat_reply(None), "response without message content"),
    "empty_reply": (lambda body: chat_reply(""), "empty reply"),
    "blank_reply": (lambda body: chat_reply(" \n"), "empty reply"),
}


@pytest.mark.parametrize("mode", sorted(FAILURES))
def test_failed_call_raises_is_counted_and_never_cached_then_a_rerun_asks_again(tmp_path, mode):
    respond, expected = FAILURES[mode]
    with FakeChatServer(respond) as server:
        judge = make_judge(server, tmp_path, http_retries=1, timeout_s=0.5)
        with pytest.raises(JudgeCallError, match=expected):
            judge(QUESTION, DOG_CAT, "a kitten")
    record = judge.records[0]
    assert (record.letter, record.method, record.replies) == (None, "failed", [])
    assert record.error.startswith("judge call failed: ") and expected in record.error
    assert judge.stats.errors == 1 and judge.stats.failures == 1 and judge.stats.cache_hits == 0
    assert not (tmp_path / "judge.jsonl").exists()
    with scripted(["B"]) as healthy:
        rerun = make_judge(healthy, tmp_path)
        assert rerun(QUESTION, DOG_CAT, "a kitten") == "B"
    assert len(healthy.bodies) == 1 and rerun.stats.errors == 0
    assert [json.loads(line)["replies"] for line in (tmp_path / "judge.jsonl").read_text().splitlines()] == [["B"]]


def test_dead_judge_mid_run_is_a_failure():
    judge = LLMJudge(judge_config_from_dict({"base_url": _closed_port_url(), "model": "m", "api_key_env": None,
                                             "http_retries": 0}))
    result = extract_letter(get_benchmark("mmbench"), "It is a kitten", SAMPLE, "can_infer_2024", judge)
    assert (result.letter, result.method) == ("", JUDGE_FAILED)
    assert result.error.startswith("judge call failed: request to ") and "ConnectionRefusedError" in result.error


def test_random_fallback_never_hides_a_failed_call():
    with FakeChatServer(lambda body: Reply(500, {})) as server:
        judge = make_judge(server, random_fallback=True, http_retries=0)
        record = judge.judge(QUESTION, DOG_CAT, "a horse")
    assert (record.letter, record.method, judge.stats.random_fallbacks) == (None, "failed", 0)


def test_failed_pass_is_recorded_with_its_error_and_counted_apart_from_unparsed():
    with FakeChatServer(lambda body: Reply(500, {"error": {"message": "boom"}})) as server:
        build = PredictionBuilder(get_benchmark("mmbench"), "official", "can_infer_2024", judge=make_judge(server, http_retries=0))
        failed = build(SAMPLE, ModelOutput(text="It is a kitten"))
        url = server.url
    with scripted(["no idea"]) as server:
        unparsed = PredictionBuilder(get_benchmark("mmbench"), "official", "can_infer_2024", judge=make_judge(server))(
            SAMPLE, ModelOutput(text="a horse"))
    assert (failed.raw_output, failed.extracted, failed.extract_method, failed.correct) == (
        "It is a kitten", "", JUDGE_FAILED, False)
    assert failed.error == (f'judge call failed: HTTP 500 from {url}/chat/completions: '
                            '{"error": {"message": "boom"}} (gave up after 1 attempts)')
    assert (unparsed.extract_method, unparsed.error) == ("none", None)
    failed.group, unparsed.group, unparsed.id = "7", "8", "8"
    metrics = score_predictions(get_benchmark("mmbench"), [failed, unparsed])
    assert (metrics["n_judge_failed"], metrics["n_unparsed_passes"], metrics["n_failed"]) == (1, 1, 1)


def test_rescoring_replaces_a_stored_judge_failure_with_the_new_extraction():
    with FakeChatServer(lambda body: Reply(500, {})) as server:
        pred = PredictionBuilder(get_benchmark("mmbench"), "official", "can_infer_2024", judge=make_judge(server, http_retries=0))(
            SAMPLE, ModelOutput(text="It is a kitten"))
    with scripted(["B"]) as server:
        reextract([pred], get_benchmark("mmbench"), "can_infer_2024", judge=make_judge(server))
    assert (pred.extracted, pred.extract_method, pred.error, pred.correct) == ("B", "judge", None, True)


def test_cache_ignores_reply_less_entries_and_corrupt_lines_with_a_warning(tmp_path, caplog):
    with scripted(["A"]) as server:
        make_judge(server, tmp_path)(QUESTION, DOG_CAT, "a puppy")  # one real entry
    cache = tmp_path / "judge.jsonl"
    real = cache.read_text()
    key = json.loads(real)["key"]
    with scripted(["B"]) as server:  # an older version's cached empty replies for the kitten prompt
        probe = make_judge(server)
        probe(QUESTION, DOG_CAT, "a kitten")
    stale = {"key": probe.records[0].prompt_sha256, "model": "judge-m", "replies": ["", "", ""], "attempts": 3,
             "letter": None}
    cache.write_text(real + "{not json\n" + json.dumps(stale) + "\n")
    with caplog.at_level(logging.WARNING, logger="awaker_eval.extract.llm_judge"), scripted(["B"]) as server:
        judge = make_judge(server, tmp_path)
        assert judge(QUESTION, DOG_CAT, "a puppy") == "A"  # the real entry is still used
        assert judge(QUESTION, DOG_CAT, "a kitten") == "B"  # the empty one is asked again
    assert len(server.bodies) == 1 and judge.stats.cache_hits == 1 and judge.records[0].prompt_sha256 == key
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0].startswith(f"{cache}:2: unreadable judge cache line ignored (")
    assert messages[1] == f"{cache}:3: judge cache entry without a real reply ignored (asked again)"


def test_no_resume_does_not_reuse_the_cache(tmp_path):
    with scripted(["A", "B"]) as server:
        make_judge(server, tmp_path)(QUESTION, DOG_CAT, "a pet")
        fresh = LLMJudge(judge_config_from_dict({"base_url": server.url, "model": "judge-m", "api_key_env": None,
                                                 "cache_path": str(tmp_path / "judge.jsonl")}), reuse_cache=False)
        assert fresh(QUESTION, DOG_CAT, "a pet") == "B"
        assert make_judge(server, tmp_path)(QUESTION, DOG_CAT, "a pet") == "B"  # the newest entry wins
    assert len(server.bodies) == 2 and fresh.stats.cache_hits == 0


def test_max_failures_limit(capsys):
    preds = [PredictionBuilder(get_benchmark("mmbench"), "official", "can_infer_2024")(SAMPLE, ModelOutput(text="B")) for _ in "ab"]
    preds[0].extract_method = JUDGE_FAILED
    assert check_judge_failures(preds, 1) == 1
    assert capsys.readouterr().err == (
        "warning: 1 judge call(s) failed (benchmark.judge.max_failures=1); those passes are recorded with their "
        "error, count as wrong and are retried when you rerun the same command\n")
    with pytest.raises(JudgeFailuresExceeded, match=r"^1 judge call\(s\) failed \(benchmark.judge.max_failures=0\)"):
        check_judge_failures(preds, 0)
    with pytest.raises(ValueError, match="benchmark.judge.max_failures must be >= 0, got -1"):
        LLMJudge(judge_config_from_dict({"base_url": "http://127.0.0.1:1/v1", "model": "m", "max_failures": -1}))


def test_run_with_a_failing_judge_stops_after_writing_everything_and_a_rerun_retries(tmp_path, tiny_cache_dir):
    from conftest import shared_path
    from test_mmbench_e2e import _cfg, _circular_tsv

    from awaker_eval.engine.store import read_jsonl_predictions
    from awaker_eval.pipeline import evaluate

    tsv = tmp_path / "MMBench_DEV_EN_V11.tsv"
    _circular_tsv(shared_path("benchmark_fixtures"), tsv, n_questions=1)
    state = {"down": True}

    def respond(body):
        return Reply(500, {"error": {"message": "judge down"}}) if state["down"] else chat_reply("B")

    run = tmp_path / "run"
    with FakeChatServer(respond) as server:
        cfg = _cfg(tmp_path, tiny_cache_dir, tsv, server.url, f"output_dir={run}", "benchmark.judge.http_retries=0")
        with pytest.raises(JudgeFailuresExceeded) as caught:
            evaluate(cfg)
        stored = list(read_jsonl_predictions(run / "predictions.jsonl"))
        failed = [p for p in stored if p.extract_method == JUDGE_FAILED]
        assert str(caught.value) == (
            f"{len(failed)} judge call(s) failed (benchmark.judge.max_failures=0); those passes are recorded "
            "with their error, count as wrong and are retried when you rerun the same command")
        assert len(stored) == 4 and len(failed) >= 1 and not (run / "judge_cache.jsonl").exists()
        assert all(p.error.startswith("judge call failed: HTTP 500") and p.correct is False for p in failed)
        scores = json.loads((run / "scores.json").read_text())
        assert (scores["n_judge_failed"], scores["n_failed"]) == (len(failed), len(failed))
        assert json.loads((run / "run.json").read_text())["judge"]["errors"] == len(failed)
        assert (run / "report.html").is_file()
        state["down"] = False
        n_before = len(server.bodies)
        evaluate(cfg)  # healthy judge: exactly the failed passes are recomputed and judged
    meta = json.loads((run / "run.json").read_text())
    assert (meta["counts"]["done"], meta["counts"]["skipped"]) == (len(failed), 4 - len(failed))
    assert len(server.bodies) - n_before == len(failed)
    rerun = {p.id: p for p in read_jsonl_predictions(run / "predictions.jsonl")}
    assert all(rerun[p.id].extract_method == "judge" and rerun[p.id].error is None for p in failed)


def test_app_exits_1_with_one_line_when_judge_failures_exceed_the_limit(monkeypatch, capsys, tmp_path):
    import awaker_eval.pipeline
    from awaker_eval.app import main

    def failing(cfg, hydra_output_dir=None, on_run_dir=None):
        raise JudgeFailuresExceeded("3 judge call(s) failed (benchmark.judge.max_failures=0); ...")

    monkeypatch.setattr(awaker_eval.pipeline, "evaluate", failing)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as caught:
        main([])
    assert caught.value.code == 1
    assert capsys.readouterr().err == "error: 3 judge call(s) failed (benchmark.judge.max_failures=0); ...\n"
