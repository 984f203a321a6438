"""Qwen2-VL chat layout: one user turn, image part(s) first, then the prompt text."""

from __future__ import annotations

from typing import Any

from PIL import Image

from awaker_eval.models.base import Messages
from awaker_eval.types import ImageRef, Sample


def _image_source(ref: ImageRef) -> Any:
    """What ``qwen_vl_utils`` can open without us decoding: a file path or a base64 data URI; else pixels."""
    if ref.path is not None:
        return ref.path
    if ref.b64 is not None:
        return "data:image;base64," + ref.b64
    return ref.load()


def to_messages(
    sample: Sample,
    prompt_text: str,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    image: Image.Image | None = None,
) -> Messages:
    """``[{"role": "user", "content": [image..., text]}]``; ``min_pixels`` / ``max_pixels`` appear on each
    image part only when set (``qwen_vl_utils`` reads them there). ``image`` overrides the sample's images
    (the pipeline passes the already decoded PIL image)."""
    images = [image] if image is not None else [_image_source(ref) for ref in sample.images]
    content: list[dict[str, Any]] = []
    for img in images:
        part: dict[str, Any] = {"type": "image", "image": img}
        if min_pixels is not None:
            part["min_pixels"] = int(min_pixels)
        if max_pixels is not None:
            part["max_pixels"] = int(max_pixels)
        content.append(part)
    content.append({"type": "text", "text": prompt_text})
    return [{"role": "user", "content": content}]
