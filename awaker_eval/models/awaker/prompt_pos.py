"""``prompt_pos``: the ``[start, end)`` span of each prompt that the routers mean-pool (spec §4).

Token ids come from the tokenizer (or an explicit id table), never from hard-coded numbers. Spans are computed per
row on the final (left-padded) ids, so pads never enter the mean and each row decides image vs text rule itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import torch

TOKEN_NAMES = {
    "im_start": "<|im_start|>",
    "im_end": "<|im_end|>",
    "vision_start": "<|vision_start|>",
    "image_pad": "<|image_pad|>",
}


class PromptSpanError(ValueError):
    """A prompt lacks the chat-template tokens the routing span needs."""


@dataclass(frozen=True)
class SpecialTokens:
    im_start: int
    im_end: int
    vision_start: int
    image_pad: int

    @classmethod
    def from_mapping(cls, ids: Mapping[str, int], where: str = "token table") -> "SpecialTokens":
        """From a ``{token string: id}`` table (e.g. ``inputs.json`` → ``special_ids``)."""
        missing = [tok for tok in TOKEN_NAMES.values() if tok not in ids]
        if missing:
            raise PromptSpanError(f"{where}: missing special tokens {missing}")
        return cls(**{field: int(ids[tok]) for field, tok in TOKEN_NAMES.items()})

    @classmethod
    def from_tokenizer(cls, tokenizer) -> "SpecialTokens":
        ids = {tok: tokenizer.convert_tokens_to_ids(tok) for tok in TOKEN_NAMES.values()}
        unk = getattr(tokenizer, "unk_token_id", None)
        bad = [tok for tok, i in ids.items() if i is None or (unk is not None and i == unk)]
        if bad:
            raise PromptSpanError(f"tokenizer {type(tokenizer).__name__} does not know {bad}")
        return cls.from_mapping(ids, where=type(tokenizer).__name__)


def _nth(positions: list[int], n: int) -> int | None:
    return positions[n - 1] if len(positions) >= n else None


def row_span(row: list[int], tokens: SpecialTokens, row_index: int = 0) -> tuple[int, int]:
    """Span of one row: first ``<|vision_start|>`` if the row has an image, else 2nd ``<|im_start|>`` + 2; the end is
    the 2nd ``<|im_end|>`` (exclusive)."""
    im_start = [i for i, t in enumerate(row) if t == tokens.im_start]
    im_end = [i for i, t in enumerate(row) if t == tokens.im_end]
    if tokens.image_pad in row:
        start = row.index(tokens.vision_start) if tokens.vision_start in row else None
        what = "<|vision_start|>"
    else:
        second = _nth(im_start, 2)
        start = None if second is None else second + 2
        what = "a second <|im_start|> (system + user turns)"
    end = _nth(im_end, 2)
    if start is None:
        raise PromptSpanError(f"row {row_index}: no {what} in the prompt ids")
    if end is None:
        raise PromptSpanError(f"row {row_index}: no second <|im_end|> (end of the first user turn) in the prompt ids")
    if start >= end:
        raise PromptSpanError(f"row {row_index}: empty routing span [{start}, {end})")
    return start, end


def prompt_spans(
    input_ids: torch.Tensor, tokens: SpecialTokens, attention_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """``[B, 2]`` int64 spans on the given (left-padded) ids; masked positions are ignored."""
    spans = []
    ids = input_ids.detach().cpu()
    mask = None if attention_mask is None else attention_mask.detach().cpu().bool()
    for b in range(ids.shape[0]):
        row = ids[b].tolist()
        if mask is not None:  # pads may reuse a special id: blank them out, keep positions
            row = [t if keep else -1 for t, keep in zip(row, mask[b].tolist())]
        spans.append(row_span(row, tokens, b))
    return torch.tensor(spans, dtype=torch.long)
