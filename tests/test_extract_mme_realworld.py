"""MME-RealWorld answer extraction: the golden cases of every variant, and the per-sample entry point."""

from __future__ import annotations


import pytest

from awaker_eval.extract import extract_answer
from awaker_eval.tasks.mme_realworld.extract import extract
from awaker_eval.types import Choice, Prediction, Sample
from awaker_eval.tasks.registry import get_benchmark

COLUMNS = {
    "official": "official_eval_your_results__real_choices",
    "vlmevalkit_2024": "vlmevalkit_2024_or_lmmseval_pre_2024_11_15__default_choices",
    "fixed": "lmmseval_2024_11_15_plus_or_vlmevalkit_2026_06_plus__default_choices",
}


@pytest.mark.parametrize("variant", sorted(COLUMNS))
def test_golden_cases(cases, variant):
    choices = cases["mme_realworld_choices_used"]
    got = {c["response"]: extract(c["response"], choices, variant) for c in cases["mme_realworld_cases"]}
    want = {c["response"]: c[COLUMNS[variant]] for c in cases["mme_realworld_cases"]}
    assert len(want) == 20
    assert got == want


def test_spec_examples_and_quirks():
    real = ["(A) 458", "(B) 457", "(C) 456", "(D) 455", "(E) This image doesn't feature the data."]
    assert extract("", real, "official") == "A"  # empty response: rule 5 matches the first choice
    assert extract("   ", None, "fixed") == "A"
    assert extract("Best answer:Best option: D", real, "official") == "D"  # the concatenated prefix
    assert extract("（C）", ["（A）x", "（B）y", "（C）z"], "official") == "C"
    assert extract("the the the the the the the the the the the", real, "official") == ""  # >10 tokens, no letter
    assert extract("<answer>\nc</answer> because", None, "vlmevalkit_head") == "C"
    with pytest.raises(ValueError, match="unknown MME-RealWorld extractor"):
        extract("A", real, "nope")


def _sample() -> Sample:
    raws = ["(A) 458", "(B) 457", "(C) 456", "(D) 455", "(E) none"]
    choices = tuple(Choice(r[1], r[4:], r) for r in raws)
    return Sample(id="s1", benchmark="mme_realworld", language="en", question="q?", choices=choices, answer="B",
                  task="Perception", subtask="Diagram and Table", category="table")


def test_extract_answer_sample_and_prediction():
    sample = _sample()
    assert extract_answer(get_benchmark("mme_realworld"), "457", sample, "official") == ("B", "rule")
    assert extract_answer(get_benchmark("mme_realworld"), "457", sample, "fixed") == ("", "none")
    assert extract_answer(get_benchmark("mme_realworld"), "", sample, "fixed") == ("A", "rule")
    assert extract_answer(get_benchmark("mme_realworld"), None, sample, "official") == ("", "none")  # failed sample
    pred = Prediction(id="s1", benchmark="mme_realworld", prompt_hash="", protocol_fp="", model_fp="",
                      raw_output="456", extracted="", extract_method="none", answer="B", correct=None,
                      choices=[[c.letter, c.text, c.raw] for c in sample.choices])
    assert extract_answer(get_benchmark("mme_realworld"), pred.raw_output, pred, "official") == ("C", "rule")
    pred.choices = []
    with pytest.raises(ValueError, match="'s1'"):
        extract_answer(get_benchmark("mme_realworld"), "456", pred, "official")
    with pytest.raises(ValueError, match="unknown benchmark kind"):
        extract_answer(get_benchmark("mmmu"), "A", sample, "official")
