"""Typed contracts shared by the pipeline stages.

data (benchmark rows -> ``Sample``) -> prompt (``Sample`` -> chat messages) -> model (messages -> text /
choice scores) -> store (``Prediction`` lines) -> score (predictions -> metrics) -> report.
Models never see benchmark names; benchmarks never see model names.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from PIL import Image


class ImageLoadError(RuntimeError):
    """An image could not be read or decoded; names the sample / source so it can be recorded."""


@dataclass(frozen=True)
class ImageRef:
    """A lazily decoded image: nothing is decoded until ``load()`` is called.

    Exactly one source is set: ``path`` (file on disk), ``b64`` (base64 text), ``data`` (raw encoded bytes)
    or ``loader`` (a picklable zero-argument callable returning encoded bytes, e.g. a memory-mapped arrow row).
    ``key`` identifies the image (used for clustering questions that share an image and for fingerprints).
    """

    key: str
    path: str | None = None
    b64: str | None = None
    data: bytes | None = None
    loader: Callable[[], bytes] | None = field(default=None, compare=False)

    def encoded_bytes(self) -> bytes:
        """The encoded image bytes (JPEG/PNG/...), reading from the source on demand."""
        try:
            if self.path is not None:
                return Path(self.path).read_bytes()
            if self.data is not None:
                return self.data
            if self.b64 is not None:
                return base64.b64decode(self.b64, validate=False)
            if self.loader is not None:
                return self.loader()
        except (OSError, ValueError) as exc:
            raise ImageLoadError(f"image {self.key!r}: cannot read ({exc})") from exc
        raise ImageLoadError(f"image {self.key!r}: no source set")

    def load(self) -> Image.Image:
        """Decode to an RGB PIL image; raises ImageLoadError with the image key on any failure."""
        raw = self.encoded_bytes()
        try:
            img = Image.open(io.BytesIO(raw))
            img.load()
        except Exception as exc:  # PIL raises many types for corrupt data
            raise ImageLoadError(f"image {self.key!r}: cannot decode ({type(exc).__name__}: {exc})") from exc
        return img.convert("RGB")


@dataclass(frozen=True)
class Choice:
    """One answer option. ``raw`` is the option string as the dataset gives it (e.g. ``"(A) 458"``)."""

    letter: str
    text: str
    raw: str


def choice_rows(choices: Iterable[Choice]) -> list[list[str]]:
    """Options as ``Prediction.choices`` stores them: ``[[letter, text, raw], ...]``."""
    return [[c.letter, c.text, c.raw] for c in choices]


@dataclass(frozen=True)
class Sample:
    """One benchmark question, normalised across all dataset layouts.

    ``id`` is unique within a benchmark split. ``group`` is the unit of scoring (MMBench circular question
    index; the item id for MME-RealWorld). ``cluster`` groups units that are not independent (questions sharing
    an image) for clustered bootstrap intervals.
    """

    id: str
    benchmark: str
    language: str  # "en" | "cn"
    question: str
    choices: tuple[Choice, ...]
    answer: str | None  # ground-truth letter; None when hidden (MMBench test)
    images: tuple[ImageRef, ...] = ()
    hint: str | None = None
    task: str | None = None  # MME-RealWorld: Perception | Reasoning
    subtask: str | None = None
    category: str | None = None  # fine category (MME) / L3 ability (MMBench)
    l2_category: str | None = None  # MMBench l2 ability
    group: str | None = None
    cluster: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def letters(self) -> list[str]:
        return [c.letter for c in self.choices]

    def record_extra(self) -> dict[str, Any]:
        """The JSON-ready fields a Prediction carries beyond the typed ones (index, split, hint, image key...),
        so that scoring and the MMBench submission work from predictions alone."""
        extra = {k: v for k, v in self.extra.items() if isinstance(v, (str, int, float, bool)) or v is None}
        if self.hint is not None:
            extra["hint"] = self.hint
        if self.images:
            extra["image_key"] = self.images[0].key
        return extra


@dataclass
class Prediction:
    """One line of ``predictions.jsonl``: everything needed to re-score without the dataset."""

    id: str
    benchmark: str
    prompt_hash: str
    protocol_fp: str
    model_fp: str
    raw_output: str | None
    extracted: str  # "" when nothing could be extracted
    extract_method: str  # "rule" | "judge" | "none"
    answer: str | None
    correct: bool | None  # None when the answer is hidden
    group: str | None = None
    cluster: str | None = None
    task: str | None = None
    subtask: str | None = None
    category: str | None = None
    l2_category: str | None = None
    choices: list[list[str]] = field(default_factory=list)  # [[letter, text, raw], ...]
    question: str | None = None
    error: str | None = None  # set when the sample failed (counts as wrong, never as absent)
    choice_logprobs: dict[str, float] | None = None
    routing: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of_sample(cls, sample: Sample, **fields: Any) -> Prediction:
        """A Prediction carrying ``sample``'s record fields (answer, taxonomy, options, question, extra), so the
        normal and the failed-finalize paths record the same; ``fields`` gives the rest (hashes, output, letter)."""
        return cls(
            id=sample.id, benchmark=sample.benchmark, answer=sample.answer, group=sample.group,
            cluster=sample.cluster, task=sample.task, subtask=sample.subtask, category=sample.category,
            l2_category=sample.l2_category, choices=choice_rows(sample.choices), question=sample.question,
            extra=sample.record_extra(), **fields,
        )
