"""The optional LLM choice extractor against a scripted in-test chat-completions server (loopback only)."""

from __future__ import annotations

import json
import re
import threading

import pytest
from conftest import shared_path
from test_openai_fakeserver import FakeChatServer, Reply, chat_reply

from awaker_eval.extract.dispatch import extract_answer
from awaker_eval.extract.llm_judge import CN_TEMPLATE, EN_TEMPLATE, LLMJudge, judge_config_from_dict
from awaker_eval.types import Choice, Sample
from awaker_eval.tasks.registry import get_benchmark

DOG_CAT = [Choice("A", "dog", "A. dog"), Choice("B", "cat", "B. cat")]
GOU_MAO = [Choice("A", "狗", "A. 狗"), Choice("B", "猫", "B. 猫")]

EXPECTED_EN = (
    "You are an AI assistant who will help me to match an answer with several options of a single-choice "
    "question. You are provided with a question, several options, and an answer, and you need to find which "
    "option is most similar to the answer. If the meaning of all options are significantly different from the "
    "answer, output Z. Your should output a single uppercase character in A, B, C, D (if they are valid "
    "options), and Z. \nExample 1: \nQuestion: What is the main object in image?\nOptions: A. teddy bear "
    "B. rabbit C. cat D. dog\nAnswer: a cute teddy bear\nYour output: A\nExample 2: \nQuestion: What is the main "
    "object in image?\nOptions: A. teddy bear B. rabbit C. cat D. dog\nAnswer: Spider\nYour output: Z\n"
    "Example 3: \nQuestion: Which animal is shown?\nOptions: There are several options: \nA. dog\nB. cat\n\n"
    "Answer: It is a small kitten\nYour output: "
)
EXPECTED_CN = (
    "你是一个帮助我匹配答案与单选题中多个选项的 AI 助手。你会被提供：一个问题，多个选项，一个答案。"
    "你的任务是找到与答案意义最相近的选项。如果所有选项的意义都与答案显著不同，则输出 Z。"
    "你应该输出一个单个的大写字母，例如 A, B, C, D（如果它们是有效选项），或 Z。例 1:问题: 图中最主要的物体是什么?\n"
    "选项: A. 泰迪熊 B. 兔子 C. 猫 D. 狗\n答案: 一只可爱的泰迪熊\n输出: A\n例 2: \n问题: 图中最主要的物体是什么?\n"
    "选项: A. 泰迪熊 B. 兔子 C. 猫 D. 狗\n答案: 蜘蛛\n输出: Z\n例 3: \n问题: 图中是什么动物?\n"
    "选项: There are several options: \nA. 狗\nB. 猫\n\n答案: 是一只小猫咪\n输出: "
)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


def scripted(replies: list[str]):
    """A server that answers with ``replies`` in order (then repeats the last one)."""
    lock, queue = threading.Lock(), list(replies)

    def respond(body):
        with lock:
            return chat_reply(queue.pop(0) if len(queue) > 1 else queue[0])

    return FakeChatServer(respond)


def make_judge(server: FakeChatServer, tmp_path=None, **overrides) -> LLMJudge:
    values = {"base_url": server.url, "model": "judge-m", "api_key_env": None, "backoff_s": 0.01,
              "cache_path": str(tmp_path / "judge.jsonl") if tmp_path else None, **overrides}
    return LLMJudge(judge_config_from_dict(values))


def test_templates_are_byte_exact_copies_of_the_spec():
    spec = shared_path("specs", "benchmarks.md").read_text(encoding="utf-8")
    section = spec[spec.index("**Optional LLM choice extractor**"):]
    en, cn = [json.loads(block) for block in re.findall(r'```\n(".*?")\n```', section, re.S)[:2]]
    assert (EN_TEMPLATE, CN_TEMPLATE) == (en, cn)


def test_en_prompt_exact_and_first_reply_parsed():
    with scripted(["B"]) as server:
        judge = make_judge(server)
        record = judge.judge("Which animal is shown", DOG_CAT, "It is a small kitten")
    [body] = server.bodies
    assert body == {"model": "judge-m", "messages": [{"role": "user", "content": EXPECTED_EN}], "temperature": 0.0}
    assert (record.letter, record.method, record.template, record.attempts, record.replies) == (
        "B", "judge", "en", 1, ["B"])
    assert judge.stats.as_dict() == {"calls": 1, "cache_hits": 0, "requests": 1, "failures": 0, "random_fallbacks": 0,
                                     "errors": 0}


def test_cn_prompt_exact_for_a_question_with_cjk():
    with scripted(["答案是 B"]) as server:
        judge = make_judge(server)
        letter = judge("图中是什么动物", GOU_MAO, "是一只小猫咪")
    assert server.bodies[0]["messages"][0]["content"] == EXPECTED_CN
    assert letter == "B" and judge.records[0].template == "cn"


def test_unparsable_reply_is_asked_again():
    with scripted(["I am not sure.", "Z"]) as server:
        judge = make_judge(server)
        record = judge.judge("Which animal is shown", DOG_CAT, "a horse")
    assert (record.letter, record.attempts, record.replies) == ("Z", 2, ["I am not sure.", "Z"])


def test_three_unparsable_replies_return_none_and_count_a_failure(tmp_path):
    with scripted(["Hmm, hard to say."]) as server:
        judge = make_judge(server, tmp_path)
        record = judge.judge("Which animal is shown", DOG_CAT, "a horse")
        assert len(server.bodies) == 3
        rerun = make_judge(server, tmp_path)  # cached failure: no new requests, still reported
        assert rerun("Which animal is shown", DOG_CAT, "a horse") is None
        assert len(server.bodies) == 3
    assert (record.letter, record.method, record.attempts) == (None, "failed", 3)
    assert record.replies == ["Hmm, hard to say."] * 3
    assert judge.stats.failures == 1 and judge.stats.requests == 3
    assert rerun.stats.as_dict() == {"calls": 1, "cache_hits": 1, "requests": 0, "failures": 1, "random_fallbacks": 0,
                                     "errors": 0}


def test_random_fallback_is_explicit_and_seeded():
    with scripted(["no idea"]) as server:
        picks = [make_judge(server, random_fallback=True, seed=7).judge("Q", DOG_CAT, "a horse") for _ in range(2)]
    assert picks[0].method == "random_fallback" and picks[0].letter in {"A", "B", "Z"}
    assert picks[0].letter == picks[1].letter  # same seed + prompt -> same pick


def test_cache_makes_reruns_free(tmp_path):
    with scripted(["A", "B"]) as server:
        first = make_judge(server, tmp_path)
        letters = [first("Which animal is shown", DOG_CAT, p) for p in ("a puppy", "a kitten")]
        assert len(server.bodies) == 2
        second = make_judge(server, tmp_path)
        again = [second("Which animal is shown", DOG_CAT, p) for p in ("a puppy", "a kitten")]
        assert len(server.bodies) == 2  # zero HTTP calls on the rerun
    assert letters == again == ["A", "B"]
    assert second.stats.as_dict() == {"calls": 2, "cache_hits": 2, "requests": 0, "failures": 0, "random_fallbacks": 0,
                                      "errors": 0}
    lines = [json.loads(line) for line in (tmp_path / "judge.jsonl").read_text().splitlines()]
    assert [(e["model"], e["replies"], e["attempts"], e["letter"]) for e in lines] == [
        ("judge-m", ["A"], 1, "A"), ("judge-m", ["B"], 1, "B")]
    assert lines[0]["key"] == first.records[0].prompt_sha256 and len(lines[0]["key"]) == 64


def test_http_failure_is_reported_not_cached(tmp_path):
    with FakeChatServer(lambda body: Reply(401, {"error": {"message": "bad key"}})) as server:
        judge = make_judge(server, tmp_path)
        record = judge.judge("Which animal is shown", DOG_CAT, "a kitten")
    assert record.letter is None and record.method == "failed" and "HTTP 401" in record.error
    assert judge.stats.failures == 1 and not (tmp_path / "judge.jsonl").exists()


def test_dispatch_consults_the_judge_only_when_rules_fail():
    sample = Sample(id="1", benchmark="mmbench", language="en", question="Which animal is shown",
                    choices=tuple(DOG_CAT), answer="B")
    with scripted(["B"]) as server:
        judge = make_judge(server)
        assert extract_answer(get_benchmark("mmbench"), "It is a kitten", sample, "can_infer_2024", judge) == ("B", "judge")
        assert extract_answer(get_benchmark("mmbench"), "B.", sample, "can_infer_2024", judge) == ("B", "rule")
    assert len(server.bodies) == 1


def test_config_rejects_unknown_and_missing_keys():
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['modle'\]"):
        judge_config_from_dict({"base_url": "http://127.0.0.1:1/v1", "modle": "x"})
    with pytest.raises(ValueError, match=r"missing required key\(s\) \['model'\]"):
        judge_config_from_dict({"base_url": "http://127.0.0.1:1/v1"})
