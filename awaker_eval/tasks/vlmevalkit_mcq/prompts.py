"""VLMEvalKit's MCQ prompts (Qwen2-VL and default constructions, shared by MMBench and every generic MCQ TSV)
and lmms-eval's MMBench prompt (benchmarks.md 3.3)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Iterable

from awaker_eval.tasks.vlmevalkit_mcq import templates as T
from awaker_eval.types import Choice, Sample

_CJK = re.compile("[\u4e00-\u9fff]")


def has_cjk(text: str) -> bool:
    """VLMEvalKit's Chinese test (any U+4E00..U+9FFF): picks the CN suffix here and the CN judge template."""
    return _CJK.search(text) is not None


def option_lines(choices: Iterable[Choice]) -> str:
    """VLMEvalKit's option layout, ``"A. text\n"`` per option (prompts and the judge's prompt)."""
    return "".join(f"{c.letter}. {c.text}\n" for c in choices)


def _hint_present(hint: str | None, nan_string_is_missing: bool) -> bool:
    """VLMEvalKit reads TSVs with pandas, where an empty cell or the text ``nan`` is NaN."""
    return hint is not None and not (nan_string_is_missing and hint == "nan")


def _vlmevalkit_body(sample: Sample) -> str:
    text = ""
    if _hint_present(sample.hint, nan_string_is_missing=True):
        text += "Hint: " + sample.hint + "\n"
    text += "Question: " + sample.question + "\n"
    if sample.choices:
        text += "Options:\n" + option_lines(sample.choices)
    return text


def build_qwen2vl(sample: Sample) -> str:
    """VLMEvalKit's Qwen2-VL prompt: CN suffix when any CJK character occurs, trailing whitespace stripped."""
    text = _vlmevalkit_body(sample)
    if sample.choices:
        text += T.CN_SUFFIX if has_cjk(text) else T.EN_SUFFIX
    return text.rstrip()


def build_default(sample: Sample) -> str:
    """VLMEvalKit's generic multiple-choice prompt (other models): fixed English suffix, no strip."""
    text = _vlmevalkit_body(sample)
    if sample.choices:
        text += T.DEFAULT_SUFFIX
    return text


def build_lmms_eval(sample: Sample) -> str:
    """lmms-eval: ``"{hint} {question} {options}"`` + ``"\\n"`` + post prompt (EN also drops a ``"nan"`` hint).
    The options block leaves out empty-string options and loses every trailing newline (``rstrip("\\n")``), as
    lmms-eval builds it."""
    options = (T.LMMS_OPTS_HEAD + option_lines(c for c in sample.choices if c.text != "")).rstrip("\n")
    english = sample.language == "en"
    if _hint_present(sample.hint, nan_string_is_missing=english):
        query = f"{sample.hint} {sample.question} {options}"
    else:
        query = f"{sample.question} {options}"
    return query + "\n" + (T.LMMS_POST_EN if english else T.LMMS_POST_CN)


PROTOCOLS: dict[str, Callable[[Sample], str]] = {
    "vlmevalkit_qwen2vl": build_qwen2vl,
    "vlmevalkit_default": build_default,
    "lmms_eval": build_lmms_eval,
}
ALIASES = {"official": "vlmevalkit_qwen2vl"}  # VLMEvalKit's choice for Qwen2-VL-based models
# The text each protocol is made of: part of the fingerprint, so editing a template changes it.
TEMPLATE_TEXT = {
    "vlmevalkit_qwen2vl": ("Hint: ", "Question: ", "Options:\n", T.EN_SUFFIX, T.CN_SUFFIX, "rstrip"),
    "vlmevalkit_default": ("Hint: ", "Question: ", "Options:\n", T.DEFAULT_SUFFIX),
    "lmms_eval": (T.LMMS_OPTS_HEAD, T.LMMS_POST_EN, T.LMMS_POST_CN),
}
