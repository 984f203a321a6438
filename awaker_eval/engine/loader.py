"""The CPU side of the pipeline: image decode + prompt building (``encode``) and the model's ``preparer``
(qwen_vl_utils resizing, processor, left padding) run in DataLoader worker processes, overlapped with the model.

A sample whose encode or prepare fails is returned as an error for that sample alone; the rest of its batch is
prepared without it. The same ``BatchBuilder`` re-prepares sub-batches in the main process when an OOM batch is
split, so worker and main process can never build inputs differently.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from torch.utils.data import DataLoader, Dataset

from awaker_eval.models.base import Messages
from awaker_eval.types import Sample


def describe_error(exc: BaseException) -> str:
    """A one-line error text for the prediction record (type name + message)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:500]


@dataclass
class PreparedBatch:
    """What a worker hands to the main process: model inputs for ``indices`` and errors for the rest."""

    indices: list[int]  # positions (in the engine's sample list) covered by ``prepared``, in its row order
    prepared: Any  # the model's prepared inputs, or None when no sample of the batch survived preprocessing
    errors: dict[int, str] = field(default_factory=dict)  # position -> error text
    prep_seconds: float = 0.0  # CPU time spent in encode + prepare (inside the worker)


class EncodedSamples(Dataset):
    """Map-style dataset: position -> (position, messages) or (position, error text)."""

    def __init__(self, samples: Sequence[Sample], encode: Callable[[Sample], Messages]):
        self.samples = samples
        self.encode = encode

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, pos: int) -> tuple[int, Messages | None, str | None, float]:
        t0 = time.perf_counter()
        try:
            messages = self.encode(self.samples[pos])
            return pos, messages, None, time.perf_counter() - t0
        except Exception as exc:  # corrupt image, bad row: recorded for this sample only
            return pos, None, f"{describe_error(exc)} (sample {self.samples[pos].id!r})", time.perf_counter() - t0


class BatchBuilder:
    """Picklable collate function: the model preparer over the batch's good samples, isolating failures."""

    def __init__(self, preparer: Callable[[list[Messages]], Any]):
        self.preparer = preparer

    def __call__(self, items: list[tuple[int, Messages | None, str | None, float]]) -> PreparedBatch:
        t0 = time.perf_counter()
        errors = {pos: err for pos, _, err, _ in items if err is not None}
        good = [(pos, msgs) for pos, msgs, err, _ in items if err is None]
        encode_s = sum(t for *_, t in items)
        prepared = None
        if good:
            try:
                prepared = self.preparer([m for _, m in good])
            except Exception:
                good, prepared = self._isolate(good, errors)
        return PreparedBatch(
            indices=[pos for pos, _ in good], prepared=prepared, errors=errors,
            prep_seconds=encode_s + time.perf_counter() - t0,
        )

    def _isolate(self, good: list[tuple[int, Messages]], errors: dict[int, str]):
        """The batch failed to prepare: find the samples that fail alone, prepare the others together."""
        ok: list[tuple[int, Messages]] = []
        for pos, msgs in good:
            try:
                self.preparer([msgs])
                ok.append((pos, msgs))
            except Exception as exc:
                errors[pos] = describe_error(exc)
        prepared = self.preparer([m for _, m in ok]) if ok else None
        return ok, prepared


def prepare_positions(
    positions: Sequence[int], dataset: EncodedSamples, builder: BatchBuilder
) -> PreparedBatch:
    """Encode + prepare some positions in this process (used to rebuild halves of a failed batch)."""
    return builder([dataset[p] for p in positions])


def make_loader(
    dataset: EncodedSamples, builder: BatchBuilder, batches: Sequence[Sequence[int]], num_workers: int
) -> DataLoader:
    """A DataLoader yielding one PreparedBatch per planned batch, in plan order."""
    kwargs: dict[str, Any] = {}
    if num_workers > 0:
        kwargs.update(prefetch_factor=4, persistent_workers=False)
    return DataLoader(
        dataset,
        batch_sampler=[list(b) for b in batches],
        collate_fn=builder,
        num_workers=num_workers,
        pin_memory=False,
        **kwargs,
    )
