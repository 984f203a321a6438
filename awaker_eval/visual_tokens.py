"""How many visual tokens the run's images became: recorded in ``run.json`` (``visual_tokens``) by every run.

Why: resolution (``benchmark.min_pixels`` / ``max_pixels``) is the knob papers leave unstated, and its cost and
effect are read against the tokens it gives, not the pixel bound (``awaker-eval curve``). The count is the model's
own geometry (``model.visual_tokens``: Qwen2-VL resizes to multiples of 28 px, one token per 28x28 px) from the
image headers, so nothing is decoded. Runs made before the record existed are counted from their data with the
Qwen2-VL rule (``qwen2_vl_tokens``).
"""

from __future__ import annotations

from typing import Callable, Sequence

from qwen_vl_utils import smart_resize

from awaker_eval.engine.batching import image_size
from awaker_eval.types import Sample

PATCH = 28  # pixels per visual token side after the 2x2 merge of 14-px patches


def qwen2_vl_tokens(width: int, height: int, min_pixels: int | None, max_pixels: int | None) -> int:
    """Visual tokens of one image under Qwen2-VL's resize rule (the processor's defaults where a bound is None)."""
    bounds = {k: v for k, v in (("min_pixels", min_pixels), ("max_pixels", max_pixels)) if v is not None}
    h, w = smart_resize(height, width, factor=PATCH, **bounds)
    return (h // PATCH) * (w // PATCH)


def summary(samples: Sequence[Sample], tokens: Callable[[int, int, int | None, int | None], int],
            min_pixels: int | None, max_pixels: int | None) -> dict:
    """``{"images", "total", "mean_per_image", "unreadable", "min_pixels", "max_pixels"}`` over the distinct
    images of ``samples`` (an image shown with several questions counts once)."""
    seen: dict[str, int] = {}
    unreadable = 0
    for sample in samples:
        for ref in sample.images:
            if ref.key in seen:
                continue
            size = image_size(ref)
            if size is None:
                unreadable += 1
                seen[ref.key] = 0
                continue
            try:
                seen[ref.key] = tokens(size[0], size[1], min_pixels, max_pixels)
            except ValueError:  # a geometry the model refuses: that sample fails in the run, counted as none
                unreadable += 1
                seen[ref.key] = 0
    counted = len(seen) - unreadable
    total = sum(seen.values())
    return {"images": counted, "total": total, "mean_per_image": total / counted if counted else None,
            "unreadable": unreadable, "min_pixels": min_pixels, "max_pixels": max_pixels}
