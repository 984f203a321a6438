"""Answer extraction: raw model output -> option letter, per benchmark protocol (spec §1.4, §3.4)."""

from awaker_eval.extract.dispatch import (
    DEFAULT_EXTRACTOR,
    check_kind,
    choices_of,
    extract_answer,
    resolve_extractor,
)
from awaker_eval.extract.mmbench import can_infer, can_infer_2024, can_infer_head
from awaker_eval.extract.mme_realworld import extract

__all__ = [
    "DEFAULT_EXTRACTOR",
    "can_infer",
    "can_infer_2024",
    "can_infer_head",
    "check_kind",
    "choices_of",
    "extract",
    "extract_answer",
    "resolve_extractor",
]
