"""Batch planning by a token budget: estimate each sample's prompt length without decoding pixels, sort by it,
and cut batches so that (samples x longest prompt) stays under the budget.

Why: MME-RealWorld images range from ~0.3 to 12 megapixels, so a fixed batch size either wastes the GPU on small
images or runs out of memory on large ones; sorting by length keeps left padding (wasted compute) small.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import Callable, Hashable, Sequence

from PIL import Image

from awaker_eval.types import ImageRef, Sample

log = logging.getLogger(__name__)

# Rough characters per text token for prompt-length estimates (only affects batch shapes, never results).
CHARS_PER_TOKEN = 3.0
# Chat-template overhead (system turn, role markers) in tokens.
TEMPLATE_TOKENS = 24


def image_size(ref: ImageRef) -> tuple[int, int] | None:
    """(width, height) from the image header only (PIL decodes no pixels until ``load``); None when unreadable."""
    try:
        if ref.path is not None:
            with Image.open(ref.path) as img:
                return img.size
        with Image.open(io.BytesIO(ref.encoded_bytes())) as img:
            return img.size
    except Exception:  # the worker's real decode records the error for this sample
        return None


def text_tokens(sample: Sample) -> int:
    chars = len(sample.question) + len(sample.hint or "") + sum(len(c.raw) + 2 for c in sample.choices)
    return TEMPLATE_TOKENS + int(chars / CHARS_PER_TOKEN)


def estimate_cost(
    sample: Sample,
    visual_tokens: Callable[[int, int, int | None, int | None], int],
    min_pixels: int | None,
    max_pixels: int | None,
) -> int:
    """Estimated prompt tokens of one sample: image tokens (from header sizes) + text tokens. An image whose size
    the model's geometry refuses (an aspect ratio over 200 for qwen_vl_utils) adds nothing: planning must not
    stop the run, and the sample's real preprocessing fails and records it."""
    total = text_tokens(sample)
    for ref in sample.images:
        size = image_size(ref)
        if size is not None:
            total += _image_tokens(visual_tokens, size, min_pixels, max_pixels)
    return total


def _image_tokens(visual_tokens: Callable[[int, int, int | None, int | None], int], size: tuple[int, int],
                  min_pixels: int | None, max_pixels: int | None) -> int:
    try:
        return visual_tokens(size[0], size[1], min_pixels, max_pixels)
    except ValueError as exc:  # a geometry the model cannot take: the sample fails (recorded) in its worker
        log.debug("no token estimate for an image of %dx%d px: %s", size[0], size[1], exc)
        return 0


def visual_part(sample: Sample, cost: int) -> int:
    """The image tokens of an ``estimate_cost`` result (its text part is cheap to recount; no header is read)."""
    return max(0, cost - text_tokens(sample))


@dataclass(frozen=True)
class PlannedBatch:
    indices: tuple[int, ...]  # positions in the caller's sample list
    padded_tokens: int  # len(indices) * longest estimated prompt


def order_by_cost(costs: Sequence[int], groups: Sequence[Hashable | None] | None = None) -> list[int]:
    """Indices sorted by decreasing cost (ties by index): deterministic, and an OOM shows up in the first batch.

    With ``groups`` (e.g. the image keys of each sample; None = no group), the members of a group are consecutive
    (groups by their largest cost, members by cost), so the questions of one image fall into one batch or
    consecutive batches and its vision features can be reused and then released (models/vision_reuse.py)."""
    if groups is None:
        return sorted(range(len(costs)), key=lambda i: (-costs[i], i))
    lead: dict[Hashable, tuple[int, int]] = {}  # group -> (largest cost, first index): the group's sort key
    for i in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        if groups[i] is not None:
            lead.setdefault(groups[i], (-costs[i], i))
    return sorted(range(len(costs)),
                  key=lambda i: (*(lead[groups[i]] if groups[i] is not None else (-costs[i], i)), -costs[i], i))


def image_group(sample: Sample) -> tuple[str, ...] | None:
    """The planning group of a sample: its image keys (None for a text-only sample)."""
    return tuple(ref.key for ref in sample.images) or None


def plan_batches(
    order: Sequence[int], costs: Sequence[int], max_batch_size: int, max_batch_tokens: int | None
) -> list[PlannedBatch]:
    """Cut ``order`` (already sorted by cost) into consecutive batches under both limits.

    A batch grows while ``n <= max_batch_size`` and ``n * longest <= max_batch_tokens``; a single sample above the
    token budget still forms its own batch (the model decides whether it fits).
    """
    if max_batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {max_batch_size}")
    batches: list[PlannedBatch] = []
    current: list[int] = []
    longest = 0
    for idx in order:
        cand_longest = max(longest, costs[idx])
        fits_tokens = max_batch_tokens is None or cand_longest * (len(current) + 1) <= max_batch_tokens
        if current and (len(current) >= max_batch_size or not fits_tokens):
            batches.append(PlannedBatch(tuple(current), longest * len(current)))
            current, cand_longest = [], costs[idx]
        current.append(idx)
        longest = cand_longest
    if current:
        batches.append(PlannedBatch(tuple(current), longest * len(current)))
    return batches
