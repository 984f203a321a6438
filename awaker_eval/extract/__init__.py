"""Answer extraction: raw model output -> option letter, dispatched to the benchmark object (each
benchmark's rules live in its folder under ``awaker_eval/tasks/``)."""

from awaker_eval.extract.dispatch import (
    choices_of,
    extract_answer,
    resolve_extractor,
)

__all__ = [
    "choices_of",
    "extract_answer",
    "resolve_extractor",
]
