"""MME-RealWorld(-CN) prompts: question, the option strings as given (one per line), instruction."""

from __future__ import annotations

from awaker_eval.prompts import templates as T
from awaker_eval.types import Sample

TEMPLATES = {
    ("official", "en"): T.MME_OFFICIAL_EN,
    ("official", "cn"): T.MME_OFFICIAL_CN,
    ("lmms_eval", "en"): T.MME_LMMS_EN,
    ("lmms_eval", "cn"): T.MME_LMMS_CN,
}


def build(sample: Sample, protocol: str) -> str:
    """``{question} <header>\\n(A) ..\\n..\\n(E) ..\\n<instruction>``; options from the data, never padded."""
    options = "\n".join(c.raw for c in sample.choices)
    return TEMPLATES[(protocol, sample.language)].format(question=sample.question, options=options)
