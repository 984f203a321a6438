"""MMBench rule-based extraction (VLMEvalKit can_infer, 2024 and HEAD) and the optional judge hook."""

from __future__ import annotations


import pytest

from awaker_eval.extract import extract_answer
from awaker_eval.tasks.vlmevalkit_mcq.extract import can_infer, can_infer_2024, can_infer_head
from awaker_eval.types import Choice, Sample
from awaker_eval.tasks.registry import get_benchmark

COLUMNS = {
    "can_infer_2024": "vlmevalkit_can_infer_2024_03_to_2025_08",
    "can_infer_head": "vlmevalkit_can_infer_HEAD_2026",
}
ANIMALS = {"A": "a dog", "B": "a cat", "C": "a bird", "D": "a fish"}


@pytest.mark.parametrize("version", sorted(COLUMNS))
def test_golden_cases(cases, version):
    choices = cases["mcq_choices_used"]
    got = {c["response"]: can_infer(c["response"], dict(choices), version) for c in cases["vlmevalkit_can_infer_cases"]}
    want = {c["response"]: c[COLUMNS[version]] for c in cases["vlmevalkit_can_infer_cases"]}
    assert len(want) == 21
    assert got == want


def test_spec_examples_and_version_differences():
    assert can_infer_2024("选项 C", ANIMALS) == "C"
    assert can_infer_2024("C，一只鸟", ANIMALS) is None  # full-width comma is not a separator
    assert can_infer_2024(float("nan"), ANIMALS) is None  # missing prediction -> "nan"
    assert can_infer_2024("Failed to obtain answer via API. a fish", ANIMALS) == "D"  # straight to text match
    assert can_infer_2024("I'm sorry, but without the image provided B", ANIMALS) == "Z"
    # HEAD: the letter must be among the last 4 tokens, else the verbose regex, else a capped text match.
    assert can_infer_head("B is right because one two three four", ANIMALS) is None
    assert can_infer_2024("B is right because one two three four", ANIMALS) == "B"
    assert can_infer_head("My correct answer is **c** indeed, yes really it is so", ANIMALS) == "C"
    assert can_infer_head("two options only: yes", {"A": "yes", "B": "no"}) is None  # 21 > 2 * 5 characters
    assert can_infer_2024("two options only: yes", {"A": "yes", "B": "no"}) == "A"
    with pytest.raises(ValueError, match="unknown MMBench extractor"):
        can_infer("A", ANIMALS, "can_infer_1999")


def _sample() -> Sample:
    choices = tuple(Choice(k, v, v) for k, v in ANIMALS.items())
    return Sample(id="7", benchmark="mmbench", language="en", question="Which animal?", choices=choices, answer="C")


def test_extract_answer_rules_then_judge():
    sample = _sample()
    calls = []

    def judge(question, choices, prediction):
        calls.append((question, [c.letter for c in choices], prediction))
        return {"bird-like": "C", "junk": "Q"}.get(prediction)

    assert extract_answer(get_benchmark("mmbench"), "C. a bird", sample, "can_infer_2024", judge) == ("C", "rule")
    assert extract_answer(get_benchmark("mmbench"), "Cannot determine the answer", sample, "official", judge) == ("Z", "rule")
    assert calls == []  # parsed passes never reach the judge
    assert extract_answer(get_benchmark("mmbench"), "bird-like", sample, "can_infer_2024", judge) == ("C", "judge")
    assert extract_answer(get_benchmark("mmbench"), "junk", sample, "can_infer_2024", judge) == ("", "none")  # invalid letter
    assert extract_answer(get_benchmark("mmbench"), "other", sample, "can_infer_2024", judge) == ("", "none")
    assert extract_answer(get_benchmark("mmbench"), "bird-like", sample, "can_infer_2024") == ("", "none")  # no judge
    assert extract_answer(get_benchmark("mmbench"), None, sample, "can_infer_2024", judge) == ("", "none")  # failed sample
    assert calls[0] == ("Which animal?", ["A", "B", "C", "D"], "bird-like")
    assert len(calls) == 3
