"""Answer extraction: raw model output -> option letter, per benchmark protocol (spec §1.4, §3.4)."""

from awaker_eval.extract.dispatch import (
    check_kind,
    choices_of,
    extract_answer,
    extract_can_infer,
    extract_mme,
    resolve_extractor,
)
from awaker_eval.extract.mmbench import can_infer, can_infer_2024, can_infer_head
from awaker_eval.extract.mme_realworld import extract

__all__ = [
    "can_infer",
    "can_infer_2024",
    "can_infer_head",
    "check_kind",
    "choices_of",
    "extract",
    "extract_answer",
    "extract_can_infer",
    "extract_mme",
    "resolve_extractor",
]
