"""Golden MME-RealWorld(-CN) prompts (benchmarks.md 1.3 and 2), chat messages and fingerprints.

Expected strings are written by hand from the spec's JSON literals, byte for byte.
"""

from __future__ import annotations

import json

import pytest
from PIL import Image

from awaker_eval.config.schema import BenchmarkConfig
from awaker_eval.data.options import parse_labelled_options
from awaker_eval.resolve import load_samples
from awaker_eval.prompts import PromptError, prompt_hash, to_messages
from awaker_eval.prompts import build_prompt as prompt_of
from awaker_eval.prompts import protocol_fingerprint as fingerprint_of
from awaker_eval.tasks.registry import get_benchmark
from awaker_eval.types import ImageRef, Sample


def build_prompt(sample: Sample, protocol: str) -> str:
    return prompt_of(sample, protocol, get_benchmark("mme_realworld"))


def protocol_fingerprint(cfg: BenchmarkConfig) -> str:
    return fingerprint_of(cfg, get_benchmark(cfg.kind))

# Issue 2: the official EN prompt of the embedded sample's first item (seed 0), checked in byte for byte.
SYNTHETIC_ITEM0_OFFICIAL_EN = (
    "How many circles are there in the image? The choices are listed below:\n(A) 1\n(B) 3\n(C) 6\n(D) 5\n"
    "(E) The image does not feature any circles.\nSelect the best answer to the above multiple-choice question "
    "based on the image. Respond with only the letter (A, B, C, D, or E) of the correct option. \nThe best answer is:"
)
DIAGRAM_OPTIONS = "(A) 458\n(B) 457\n(C) 456\n(D) 455\n(E) This image doesn't feature the data."
GOLDEN_EN = {
    "official": "What is the data of Interest in Feb-23 in the table? The choices are listed below:\n"
    + DIAGRAM_OPTIONS
    + "\nSelect the best answer to the above multiple-choice question based on the image. Respond with only the "
    "letter (A, B, C, D, or E) of the correct option. \nThe best answer is:",
    "lmms_eval": "What is the data of Interest in Feb-23 in the table? The choices are listed below:\n"
    + DIAGRAM_OPTIONS
    + "\nSelect the best answer to the above multiple-choice question based on the image. Respond with only the "
    "letter (A, B, C, D, or E) of the correct option.\nThe best answer is: ",
}
CN_QUESTION = "表格中2月23日的利息数据是多少？"  # our translation of the template item (no CN fixture exists)
CN_OPTIONS = ["(A) 458", "(B) 457", "(C) 456", "(D) 455", "(E) 图像中没有该数据。"]
GOLDEN_CN = {
    "official": "表格中2月23日的利息数据是多少？ 选项如下所示:\n(A) 458\n(B) 457\n(C) 456\n(D) 455\n(E) 图像中没有该数据。\n"
    "根据图像选择上述多项选择题的最佳答案。只需回答正确选项的字母（A, B, C, D 或 E）。\n最佳答案为：",
    "lmms_eval": "表格中2月23日的利息数据是多少？ 选项如下所示:\n(A) 458\n(B) 457\n(C) 456\n(D) 455\n(E) 图像中没有该数据。\n"
    "根据图像选择上述多项选择题的最佳答案。只需回答正确选项的字母（A, B, C, D 或 E）。\n最佳答案为： ",
}


def mme_sample(question: str, options: list[str], lang: str) -> Sample:
    return Sample(id="x", benchmark="mme", language=lang, question=question,
                  choices=parse_labelled_options(options, "test", 0), answer="B",
                  images=(ImageRef(key="img.jpg", path="/nonexistent/img.jpg"),), task="Perception",
                  subtask="Diagram and Table", category="diagram", extra={"kind": "mme_realworld"})


@pytest.fixture
def template_item(fixtures_dir):
    rows = json.loads((fixtures_dir / "mme_realworld_output_test_template.json").read_text(encoding="utf-8"))
    return rows[1]  # "What is the data of Interest in Feb-23 in the table?"


def test_synthetic_sample_official_prompt_is_the_checked_in_golden(tmp_path):
    sample = load_samples(BenchmarkConfig(cache_dir=str(tmp_path)))[0]
    assert build_prompt(sample, "official") == SYNTHETIC_ITEM0_OFFICIAL_EN


@pytest.mark.parametrize("protocol", ["official", "vlmevalkit", "lmms_eval"])
def test_english_prompts_on_the_official_template_item(template_item, protocol):
    sample = mme_sample(template_item["Text"], template_item["Answer choices"], "en")
    assert build_prompt(sample, protocol) == GOLDEN_EN["official" if protocol == "vlmevalkit" else protocol]


@pytest.mark.parametrize("protocol", ["official", "lmms_eval"])
def test_chinese_prompts(protocol):
    assert build_prompt(mme_sample(CN_QUESTION, CN_OPTIONS, "cn"), protocol) == GOLDEN_CN[protocol]


def test_options_come_from_the_data_not_a_fixed_five():
    text = build_prompt(mme_sample("Q?", ["(A) x", "(B) y", "(C) z", "(D) w"], "en"), "official")
    assert text.startswith("Q? The choices are listed below:\n(A) x\n(B) y\n(C) z\n(D) w\nSelect the best")


def test_full_width_option_strings_are_kept_as_given():
    text = build_prompt(mme_sample("问？", ["（A）甲", "（B）乙"], "cn"), "official")
    assert text.startswith("问？ 选项如下所示:\n（A）甲\n（B）乙\n根据图像")


def test_unknown_protocol_lists_the_valid_ones():
    with pytest.raises(PromptError, match=r"unknown prompt protocol 'vlm' for mme_realworld; valid: lmms_eval, "
                                          r"official, vlmevalkit"):
        build_prompt(mme_sample("Q?", ["(A) x", "(B) y"], "en"), "vlm")
    with pytest.raises(PromptError, match="lmms_eval, official, vlmevalkit_default, vlmevalkit_qwen2vl"):
        protocol_fingerprint(BenchmarkConfig(kind="mmbench", protocol="nope"))


def test_messages_put_the_image_first_and_pixels_only_when_set():
    sample = mme_sample("Q?", ["(A) x", "(B) y"], "en")
    img = Image.new("RGB", (8, 8))
    msgs = to_messages(sample, "PROMPT", min_pixels=3136, max_pixels=12845056, image=img)
    assert msgs == [{"role": "user", "content": [
        {"type": "image", "image": img, "min_pixels": 3136, "max_pixels": 12845056},
        {"type": "text", "text": "PROMPT"}]}]
    plain = to_messages(sample, "PROMPT")
    assert plain[0]["content"][0] == {"type": "image", "image": "/nonexistent/img.jpg"}


def test_messages_feed_qwen_vl_utils(tmp_path):
    """The pixel bounds reach qwen_vl_utils' resize: a 100x50 image with min_pixels 28*28*16 is upscaled."""
    from qwen_vl_utils import process_vision_info

    path = tmp_path / "a.png"
    Image.new("RGB", (100, 50), "red").save(path)
    sample = Sample(id="1", benchmark="b", language="en", question="q", choices=(), answer=None,
                    images=(ImageRef(key="a", path=str(path)),))
    images, _ = process_vision_info(to_messages(sample, "t", min_pixels=28 * 28 * 16, max_pixels=28 * 28 * 64))
    w, h = images[0].size
    assert w % 28 == 0 and h % 28 == 0 and 28 * 28 * 16 <= w * h <= 28 * 28 * 64


def test_protocol_fingerprint_tracks_what_shapes_the_input():
    base = BenchmarkConfig()
    fp = protocol_fingerprint(base)
    assert fp == protocol_fingerprint(BenchmarkConfig(extractor="fixed", name="other"))  # extractor-independent
    assert fp == protocol_fingerprint(BenchmarkConfig(protocol="vlmevalkit"))  # alias of official
    for change in ({"protocol": "lmms_eval"}, {"language": "cn"}, {"min_pixels": 3136}, {"max_pixels": 602112},
                   {"max_new_tokens": 64}):
        assert protocol_fingerprint(BenchmarkConfig(**change)) != fp, change


def test_prompt_hash_covers_text_and_image_identity():
    a = mme_sample("Q?", ["(A) x", "(B) y"], "en")
    b = Sample(**{**a.__dict__, "images": (ImageRef(key="other.jpg", path="/x"),)})
    assert prompt_hash("t", a) == prompt_hash("t", a)
    assert prompt_hash("t", a) != prompt_hash("u", a)
    assert prompt_hash("t", a) != prompt_hash("t", b)
