"""Vision features computed once per distinct image and reused by every question that shows it.

Why: a benchmark asks several questions about one image (about 1.8 per image in MME-RealWorld; every circular pass
of an MMBench question shows the same image again) and the vision tower is about half of the prefill time.

Correctness does not rest on dataset keys: an image is identified by a digest of the exact resized pixels the
processor sees (computed in the preparer), so two questions share features only when their vision inputs are equal.
Every image is encoded alone, with reuse on or off, so that the features never depend on which other images share
the batch (a fixed grouping: reuse on and off give bit-identical features on every device).

Memory: the engine plans the questions of one image into consecutive batches, so an entry not used by a batch is
never needed again; ``end_batch`` drops it. The cache therefore holds at most the images of one batch.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

DIGEST_KEY = "image_digests"  # the preparer's extra BatchFeature entry (popped before the model call)


def image_digest(image: Any) -> str:
    """Digest of a resized PIL image's mode, size and pixel bytes (what the image processor will read)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{image.mode}:{image.size[0]}x{image.size[1]}:".encode())
    h.update(image.tobytes())
    return h.hexdigest()


@dataclass
class VisionCounts:
    """``encoded``: vision-tower calls (one per image computed); ``reused``: image occurrences served from cache."""

    encoded: int = 0
    reused: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"vision_images_encoded": self.encoded, "vision_images_reused": self.reused}


@dataclass
class VisionFeatureCache:
    """Per-image encoding with an optional digest -> features cache (``reuse`` False: encode every occurrence)."""

    reuse: bool = True
    counts: VisionCounts = field(default_factory=VisionCounts)
    _entries: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)
    _used: set[str] = field(default_factory=set, repr=False)

    def features(
        self, encode_one, pixel_values: torch.Tensor, grid_thw: torch.Tensor, digests: Sequence[str] | None
    ) -> tuple[torch.Tensor, ...]:
        """Features of every image occurrence, in order. ``encode_one(pixels, grid[1, 3])`` runs the tower on one
        image; ``digests`` (one per occurrence) enables reuse, None encodes every occurrence."""
        patches = grid_thw.prod(-1).tolist()
        if sum(patches) != pixel_values.shape[0]:
            raise ValueError(f"pixel_values has {pixel_values.shape[0]} patches, image_grid_thw says {sum(patches)}")
        if digests is not None and len(digests) != len(patches):
            raise ValueError(f"{len(digests)} image digests for {len(patches)} images")
        out: list[torch.Tensor] = []
        for i, pixels in enumerate(torch.split(pixel_values, patches)):
            key = digests[i] if (self.reuse and digests is not None) else None
            if key is not None and key in self._entries:
                self.counts.reused += 1
                feats = self._entries[key]
            else:
                self.counts.encoded += 1
                feats = encode_one(pixels, grid_thw[i : i + 1])
                if key is not None:
                    self._entries[key] = feats
            if key is not None:
                self._used.add(key)
            out.append(feats)
        return tuple(out)

    def end_batch(self) -> None:
        """Drop every entry the batch just finished did not use (its image has no question left in the plan);
        called once more after the last batch (which used nothing), it releases everything."""
        self._entries = {k: v for k, v in self._entries.items() if k in self._used}
        self._used = set()

    def clear(self) -> None:
        self._entries, self._used = {}, set()

    @property
    def size(self) -> int:
        return len(self._entries)


def install_per_image_encoder(hf_model: torch.nn.Module, cache_of):
    """Route ``get_image_features`` of the Qwen2-VL base model (used by ``forward`` and by ``generate``'s
    pre-encoding) through ``cache_of()`` (a VisionFeatureCache), encoding each image alone.

    ``cache_of`` returns ``(cache, digests)`` for the current call; the digests are set by the backend. Returns the
    stock encoder of one image (``(pixels, grid[1, 3]) -> features``), the reference of the run-start check."""
    from transformers.modeling_outputs import BaseModelOutputWithPooling

    base = hf_model.model
    original = base.get_image_features  # the bound method of the stock model

    def encode_one(pixels: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
        return original(pixels, grid, return_dict=True).pooler_output[0]

    def get_image_features(pixel_values, image_grid_thw=None, **kwargs):
        cache, digests = cache_of()
        feats = cache.features(encode_one, pixel_values, image_grid_thw, digests)
        return BaseModelOutputWithPooling(pooler_output=feats)

    base.get_image_features = get_image_features
    return encode_one
