"""MME-RealWorld(-CN) prompts: question, the option strings as given (one per line), instruction."""

from __future__ import annotations

from collections.abc import Callable

from awaker_eval.types import Sample

# Prompt text as data, byte-exact to benchmarks.md (sections 1.3, 2), written as the spec's JSON string
# literals; ``{question}`` / ``{options}`` are the only placeholders.
# MME-RealWorld: official README = VLMEvalKit (2024 and HEAD), the leaderboard protocol.
MME_OFFICIAL_EN = (
    "{question} The choices are listed below:\n{options}\nSelect the best answer to the above multiple-choice "
    "question based on the image. Respond with only the letter (A, B, C, D, or E) of the correct option. "
    "\nThe best answer is:"
)
MME_OFFICIAL_CN = (
    "{question} 选项如下所示:\n{options}\n根据图像选择上述多项选择题的最佳答案。只需回答正确选项的字母"
    "（A, B, C, D 或 E）。\n最佳答案为："
)
# lmms-eval: no space before the last "\n", trailing space at the end.
MME_LMMS_EN = (
    "{question} The choices are listed below:\n{options}\nSelect the best answer to the above multiple-choice "
    "question based on the image. Respond with only the letter (A, B, C, D, or E) of the correct option."
    "\nThe best answer is: "
)
MME_LMMS_CN = (
    "{question} 选项如下所示:\n{options}\n根据图像选择上述多项选择题的最佳答案。只需回答正确选项的字母"
    "（A, B, C, D 或 E）。\n最佳答案为： "
)

TEMPLATES = {
    ("official", "en"): MME_OFFICIAL_EN,
    ("official", "cn"): MME_OFFICIAL_CN,
    ("lmms_eval", "en"): MME_LMMS_EN,
    ("lmms_eval", "cn"): MME_LMMS_CN,
}


def build(sample: Sample, protocol: str) -> str:
    """``{question} <header>\\n(A) ..\\n..\\n(E) ..\\n<instruction>``; options from the data, never padded."""
    options = "\n".join(c.raw for c in sample.choices)
    return TEMPLATES[(protocol, sample.language)].format(question=sample.question, options=options)


def _builder(protocol: str) -> Callable[[Sample], str]:
    return lambda sample: build(sample, protocol)


PROTOCOLS: dict[str, Callable[[Sample], str]] = {"official": _builder("official"), "lmms_eval": _builder("lmms_eval")}
ALIASES = {"vlmevalkit": "official"}
# The text each protocol is made of: part of the fingerprint, so editing a template changes it.
TEMPLATE_TEXT = {"official": (MME_OFFICIAL_EN, MME_OFFICIAL_CN), "lmms_eval": (MME_LMMS_EN, MME_LMMS_CN)}
