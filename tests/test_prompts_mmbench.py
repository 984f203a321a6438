"""Golden MMBench prompts for every protocol x language, on real MMBench items from ../shared.

Expected strings are written by hand from benchmarks.md section 3.3, byte for byte. The fixture items carry
no hints and no 2-option questions, so two are derived from real items: item 318 embeds its hint in the
question ("\\nHINT. ..."), which we move to the hint field; item 2399 is cut to its first two options.
"""

from __future__ import annotations

import json

import pytest

from awaker_eval.data.options import choices_from_columns
from awaker_eval.prompts import build_prompt as prompt_of
from awaker_eval.tasks.registry import get_benchmark
from awaker_eval.types import Sample

MMBENCH = get_benchmark("mmbench")


def build_prompt(sample: Sample, protocol: str) -> str:
    return prompt_of(sample, protocol, MMBENCH)


@pytest.fixture
def mmbench_items(fixtures_dir):
    data = json.loads((fixtures_dir / "mmbench_samples" / "mmbench_samples.json").read_text(encoding="utf-8"))
    return {item["image"].split("/")[-1].split(".")[0]: item for item in data["items"]}


def make(item: dict, lang: str, *, split_hint: bool = False, n_options: int | None = None) -> Sample:
    question, hint = item[f"question_{lang}"], None
    if split_hint:
        question, hint = question.split("\nHINT. ")
    options = dict(list(item[f"options_{lang}"].items())[:n_options])
    return Sample(id="0", benchmark="mmbench", language=lang, question=question,
                  choices=choices_from_columns(options, "fixture", 0), answer=item[f"answer_{lang}"], hint=hint,
                  extra={"kind": "mmbench"})


PLAIN, HINTED, TWO = "plain", "hint", "two_options"
CASES = {PLAIN: ("812", {}), HINTED: ("318", {"split_hint": True}), TWO: ("2399", {"n_options": 2})}

GOLDEN = {
    ("vlmevalkit_qwen2vl", "en", PLAIN): "Question: Which scene category matches this image the best?\nOptions:\nA. rock_arch\nB. train_interior\nC. shopfront\nD. office_cubicles\nPlease select the correct answer from the options above.",
    ("vlmevalkit_qwen2vl", "cn", PLAIN): "Question: 这张图片最符合哪个场景类别？\nOptions:\nA. 岩石拱门\nB. 火车内部\nC. 店面\nD. 办公室隔间\n请直接回答选项字母。",
    ("vlmevalkit_qwen2vl", "en", HINTED): "Hint: The diagram below is a model of two solutions. Each green ball represents one particle of solute.\nQuestion: Which solution has a higher concentration of green particles?\nOptions:\nA. neither; their concentrations are the same\nB. Solution B\nC. Solution A\nPlease select the correct answer from the options above.",
    ("vlmevalkit_qwen2vl", "cn", HINTED): "Hint: 下面的图表是两种溶液的模型。每个绿色的球代表一颗溶质粒子。\nQuestion: 哪个溶液中绿色颗粒的浓度更高？\nOptions:\nA. 都不是；它们的浓度相同\nB. 溶液 B\nC. 溶液 A\n请直接回答选项字母。",
    ("vlmevalkit_qwen2vl", "en", TWO): "Question: Who is closer to the football in the image, the player in the black jersey or the player in the green jersey?\nOptions:\nA. The player in the black jersey.\nB. The player in the green jersey.\nPlease select the correct answer from the options above.",
    ("vlmevalkit_qwen2vl", "cn", TWO): "Question: 在图片中，穿黑色球衣的球员和穿绿色球衣的球员谁离足球更近？\nOptions:\nA. 穿黑色球衣的球员。\nB. 穿绿色球衣的球员。\n请直接回答选项字母。",
    ("vlmevalkit_default", "en", PLAIN): "Question: Which scene category matches this image the best?\nOptions:\nA. rock_arch\nB. train_interior\nC. shopfront\nD. office_cubicles\nPlease select the correct answer from the options above. \n",
    ("vlmevalkit_default", "cn", PLAIN): "Question: 这张图片最符合哪个场景类别？\nOptions:\nA. 岩石拱门\nB. 火车内部\nC. 店面\nD. 办公室隔间\nPlease select the correct answer from the options above. \n",
    ("vlmevalkit_default", "en", HINTED): "Hint: The diagram below is a model of two solutions. Each green ball represents one particle of solute.\nQuestion: Which solution has a higher concentration of green particles?\nOptions:\nA. neither; their concentrations are the same\nB. Solution B\nC. Solution A\nPlease select the correct answer from the options above. \n",
    ("vlmevalkit_default", "cn", HINTED): "Hint: 下面的图表是两种溶液的模型。每个绿色的球代表一颗溶质粒子。\nQuestion: 哪个溶液中绿色颗粒的浓度更高？\nOptions:\nA. 都不是；它们的浓度相同\nB. 溶液 B\nC. 溶液 A\nPlease select the correct answer from the options above. \n",
    ("vlmevalkit_default", "en", TWO): "Question: Who is closer to the football in the image, the player in the black jersey or the player in the green jersey?\nOptions:\nA. The player in the black jersey.\nB. The player in the green jersey.\nPlease select the correct answer from the options above. \n",
    ("vlmevalkit_default", "cn", TWO): "Question: 在图片中，穿黑色球衣的球员和穿绿色球衣的球员谁离足球更近？\nOptions:\nA. 穿黑色球衣的球员。\nB. 穿绿色球衣的球员。\nPlease select the correct answer from the options above. \n",
    ("lmms_eval", "en", PLAIN): "Which scene category matches this image the best? There are several options:\nA. rock_arch\nB. train_interior\nC. shopfront\nD. office_cubicles\n\nAnswer with the option's letter from the given choices directly.",
    ("lmms_eval", "cn", PLAIN): "这张图片最符合哪个场景类别？ There are several options:\nA. 岩石拱门\nB. 火车内部\nC. 店面\nD. 办公室隔间\n\n请直接使用所提供的选项字母作为答案回答。",
    ("lmms_eval", "en", HINTED): "The diagram below is a model of two solutions. Each green ball represents one particle of solute. Which solution has a higher concentration of green particles? There are several options:\nA. neither; their concentrations are the same\nB. Solution B\nC. Solution A\n\nAnswer with the option's letter from the given choices directly.",
    ("lmms_eval", "cn", HINTED): "下面的图表是两种溶液的模型。每个绿色的球代表一颗溶质粒子。 哪个溶液中绿色颗粒的浓度更高？ There are several options:\nA. 都不是；它们的浓度相同\nB. 溶液 B\nC. 溶液 A\n\n请直接使用所提供的选项字母作为答案回答。",
    ("lmms_eval", "en", TWO): "Who is closer to the football in the image, the player in the black jersey or the player in the green jersey? There are several options:\nA. The player in the black jersey.\nB. The player in the green jersey.\n\nAnswer with the option's letter from the given choices directly.",
    ("lmms_eval", "cn", TWO): "在图片中，穿黑色球衣的球员和穿绿色球衣的球员谁离足球更近？ There are several options:\nA. 穿黑色球衣的球员。\nB. 穿绿色球衣的球员。\n\n请直接使用所提供的选项字母作为答案回答。",
}


@pytest.mark.parametrize("protocol,lang,case", list(GOLDEN))
def test_golden_prompt(mmbench_items, protocol, lang, case):
    item_id, how = CASES[case]
    assert build_prompt(make(mmbench_items[item_id], lang, **how), protocol) == GOLDEN[(protocol, lang, case)]


def test_official_alias_is_the_qwen2vl_prompt(mmbench_items):
    sample = make(mmbench_items["812"], "en")
    assert build_prompt(sample, "official") == GOLDEN[("vlmevalkit_qwen2vl", "en", PLAIN)]


def test_english_item_with_chinese_text_gets_the_chinese_suffix(mmbench_items):
    sample = make(mmbench_items["812"], "en")
    sample = Sample(**{**sample.__dict__, "question": "Which 场景 matches?"})
    assert build_prompt(sample, "vlmevalkit_qwen2vl").endswith("D. office_cubicles\n请直接回答选项字母。")


def test_nan_hint_rules(mmbench_items):
    """A literal "nan" hint: VLMEvalKit (pandas) and lmms-eval EN drop it; lmms-eval CN keeps it."""
    en = Sample(**{**make(mmbench_items["812"], "en").__dict__, "hint": "nan"})
    cn = Sample(**{**make(mmbench_items["812"], "cn").__dict__, "hint": "nan"})
    assert build_prompt(en, "vlmevalkit_qwen2vl") == GOLDEN[("vlmevalkit_qwen2vl", "en", PLAIN)]
    assert build_prompt(en, "lmms_eval") == GOLDEN[("lmms_eval", "en", PLAIN)]
    assert build_prompt(cn, "lmms_eval") == "nan " + GOLDEN[("lmms_eval", "cn", PLAIN)]


def test_code_options_keep_their_whitespace(mmbench_items):
    """Item 1's option texts contain newlines and indentation; only the end of the prompt is stripped."""
    text = build_prompt(make(mmbench_items["1"], "en"), "vlmevalkit_qwen2vl")
    assert "A. for x in range(6):\n     print(x)\n   else:\n     print(\"Finally finished!\")\n   \nB. " in text
    assert text.endswith("   print(x)\nPlease select the correct answer from the options above.")
