"""Left-padded prompt batches turned into right-padded ones (choice mode's ``model.choice_padding=right``).

Why: with left padding the LLM needs a 4D attention mask (which turns off SDPA's flash / GQA path and copies K/V
per head group). With right padding every pad comes after every real token, so causal attention alone is exact
for all real tokens: the model is called with ``attention_mask=None`` (SDPA ``is_causal``, no mask built) and
only each row's last real token is read. Real tokens keep their mrope positions (they start at 0 either way).
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

SEQUENCE_KEYS = ("input_ids", "attention_mask", "mm_token_type_ids", "token_type_ids")  # [B, L] per-token entries


class PaddingError(ValueError):
    """A batch that is not left-padded as the preparer writes it."""


def right_padded(batch: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a left-padded batch with each row's tokens moved to the front (pads at the end); other entries
    (pixels, grids, digests) unchanged. Host tensors in, host tensors out (no device sync)."""
    mask = batch["attention_mask"]
    length = mask.shape[1]
    real = mask.sum(dim=1)
    shift = length - real
    positions = torch.arange(length).unsqueeze(0)
    if bool((real == 0).any()) or not torch.equal(mask.bool(), positions >= shift.unsqueeze(1)):
        raise PaddingError("attention_mask is not left-padded (pads only before each row's tokens, at least one token)")
    index = (positions + shift.unsqueeze(1)) % length  # row b: its real tokens first, then its pads
    out = dict(batch)
    for key in SEQUENCE_KEYS:
        value = batch.get(key)
        if isinstance(value, torch.Tensor) and value.shape == mask.shape:
            out[key] = value.gather(1, index)
    return out


def last_real_positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """``[B]`` index of each right-padded row's last real token."""
    return attention_mask.sum(dim=1) - 1
