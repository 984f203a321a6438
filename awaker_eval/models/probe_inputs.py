"""Seeded synthetic inputs for the run-start self-checks (``models/fast_path_checks.py``): the same probe on every
device, drawn on the CPU and moved, so a check's numbers never depend on a device's random generator."""

from __future__ import annotations

import torch
from PIL import Image

PROBE_LETTERS = ["A", "B", "C", "D"]
# Vision probes: a realistic segment length for the attention check (a 448 x 448 px image is 1,024 patches) and
# grids for the reuse check (two images of one size, so a cache that returns another image's features is caught by
# value, not only by shape; one of another size).
VISION_PROBE_TOKENS = 1024
REUSE_PROBE_GRIDS = ((1, 16, 16), (1, 16, 16), (1, 12, 20))


def probe_image(width: int, height: int, seed: int) -> Image.Image:
    """A seeded RGB noise image."""
    gen = torch.Generator().manual_seed(seed)
    return Image.fromarray((torch.rand(height, width, 3, generator=gen) * 255).byte().numpy())


def probe_conversations() -> list[list[dict]]:
    """Three prompts of different lengths (two images of different sizes, one text-only): every row of the padded
    batch is padded differently."""
    texts = ["Which option fits the picture? Answer with the option's letter.",
             "Look closely at the colours and the layout. Which option is right? Answer with the letter only.",
             "Text only: which letter comes first in the alphabet, A, B, C or D?"]
    convs = []
    for i, (w, h) in enumerate([(84, 56), (56, 112)]):
        image = {"type": "image", "image": probe_image(w, h, seed=i), "min_pixels": 28 * 28, "max_pixels": 112 * 112}
        convs.append([{"role": "user", "content": [image, {"type": "text", "text": texts[i]}]}])
    convs.append([{"role": "user", "content": [{"type": "text", "text": texts[2]}]}])
    return convs


def probe_pixels(visual: torch.nn.Module, grid: tuple[int, int, int], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(pixel_values [patches, C·T·P·P] fp32, image_grid_thw [1, 3])`` on the vision tower's device."""
    cfg = visual.config
    channels = getattr(cfg, "in_channels", None) or getattr(cfg, "in_chans", 3)
    row = channels * cfg.temporal_patch_size * cfg.patch_size ** 2
    gen = torch.Generator().manual_seed(seed)
    device = next(visual.parameters()).device
    pixels = torch.randn(grid[0] * grid[1] * grid[2], row, generator=gen).to(device)
    return pixels, torch.tensor([list(grid)], device=device)
