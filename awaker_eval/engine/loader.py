"""The CPU side of the pipeline: image decode + prompt building (``encode``) and the model's ``preparer``
(qwen_vl_utils resizing, processor, left padding) run in DataLoader worker processes, overlapped with the model.

A sample whose encode or prepare fails is returned as an error for that sample alone; the rest of its batch is
prepared without it. The same ``BatchBuilder`` re-prepares sub-batches in the main process when an OOM batch is
split, so worker and main process can never build inputs differently.

How many batches wait between workers and model, and whether their tensors travel through /dev/shm or the workers'
pipes, is decided by engine/host_memory.py; ``WorkerBatchBuilder`` readies each batch for that transport.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import torch
from torch.utils.data import DataLoader, Dataset

from awaker_eval.engine.host_memory import PREFETCH_FACTOR
from awaker_eval.models.base import Messages
from awaker_eval.types import Sample

log = logging.getLogger(__name__)


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


class ByValue:
    """A tensor that the DataLoader's queue pickles by value through the worker's pipe, not through /dev/shm (the
    queue's pickler moves every tensor storage to shared memory, under both of torch's sharing strategies); it
    unpickles in the main process as the plain tensor, bit for bit. Its bytes are taken here, in the worker's
    collate, where a failure is reported: one in the queue's pickling thread is only printed, and the main process
    then waits forever."""

    __slots__ = ("raw", "dtype", "shape")

    def __init__(self, tensor: torch.Tensor):
        t = tensor.detach().contiguous()
        self.raw = t.reshape(-1).view(torch.uint8).numpy()  # numpy arrays pickle by value; bf16 travels as bytes
        self.dtype, self.shape = t.dtype, tuple(t.shape)

    def __reduce__(self):
        return _tensor_from_bytes, (self.raw, self.dtype, self.shape)


def _tensor_from_bytes(raw: Any, dtype: torch.dtype, shape: tuple[int, ...]) -> torch.Tensor:
    return torch.from_numpy(raw).view(dtype).reshape(shape)


def map_tensors(value: Any, convert: Callable[[torch.Tensor], Any]) -> Any:
    """``value`` with ``convert`` applied to every tensor in it (through mappings, lists and tuples: BatchFeature,
    dicts); mappings are updated in place (a worker's freshly prepared batch belongs to it alone)."""
    if isinstance(value, torch.Tensor):
        return convert(value)
    if isinstance(value, MutableMapping):
        for key in list(value.keys()):
            value[key] = map_tensors(value[key], convert)
        return value
    if type(value) in (list, tuple):
        return type(value)(map_tensors(v, convert) for v in value)
    return value


def ready_for_queue(prepared: Any, transport: str) -> Any:
    """A worker's prepared batch readied for the queue: ``"pipe"``: every tensor by value; ``"shared_memory"``:
    moved to /dev/shm now (the queue would do it while pickling, where a full /dev/shm hangs the run), or by value
    when /dev/shm turns out full after all."""
    if transport == "shared_memory":
        try:
            return map_tensors(prepared, lambda t: t.share_memory_())
        except RuntimeError as exc:
            log.warning("/dev/shm is full (%s): this batch goes through the pipe", describe_error(exc))
    return map_tensors(prepared, ByValue)


class WorkerBatchBuilder(BatchBuilder):
    """The builder DataLoader workers run: prepares like ``BatchBuilder``, then readies the batch for ``transport``."""

    def __init__(self, preparer: Callable[[list[Messages]], Any], transport: str):
        super().__init__(preparer)
        self.transport = transport

    def __call__(self, items: list[tuple[int, Messages | None, str | None, float]]) -> PreparedBatch:
        batch = super().__call__(items)
        batch.prepared = ready_for_queue(batch.prepared, self.transport)
        return batch


def make_loader(
    dataset: EncodedSamples, builder: BatchBuilder, batches: Sequence[Sequence[int]], num_workers: int,
    prefetch_factor: int | None = None, transport: str = "shared_memory",
) -> DataLoader:
    """A DataLoader yielding one PreparedBatch per planned batch, in plan order; ``num_workers`` x
    ``prefetch_factor`` batches at most in flight (engine/host_memory.py), by ``transport`` (``"shared_memory"``:
    torch's default; ``"pipe"``: tensors by value through the workers' pipes, no /dev/shm)."""
    kwargs: dict[str, Any] = {}
    if num_workers > 0:
        kwargs.update(prefetch_factor=prefetch_factor or PREFETCH_FACTOR, persistent_workers=False)
    collate = WorkerBatchBuilder(builder.preparer, transport) if num_workers > 0 else builder
    return DataLoader(
        dataset,
        batch_sampler=[list(b) for b in batches],
        collate_fn=collate,
        num_workers=num_workers,
        pin_memory=False,
        **kwargs,
    )


def available_cores() -> int:
    """CPU cores this process may run on (the affinity mask where the OS has one, e.g. inside a container)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def busy_cores() -> int:
    """Cores kept busy by other processes: the 1-minute load average less this process (0 where unknown)."""
    try:
        return max(0, int(os.getloadavg()[0]) - 1)
    except (AttributeError, OSError):
        return 0


@contextlib.contextmanager
def main_process_threads(
    device: Any, num_workers: int, cores: int | None = None, override: int | None = None, busy: int | None = None
) -> Iterator[int]:
    """Thread policy for a run: a model computing on CPU gets the cores that the ``num_workers`` DataLoader workers
    and the other processes of the machine (``busy``, default ``busy_cores()``) leave,
    ``max(1, cores - num_workers - busy)``, never raised above the current setting, for the duration of the run,
    then restored. Why: torch's pool spins one thread per core, and oversubscribed cores make it many times
    slower (2 cores, 2 threads + 2 workers: ~2.7x; the demo on a loaded 2-core machine: 14 s with 2 threads,
    1.1 s with 1). A model on an accelerator (or a remote one with no ``device``) is left alone. ``override``
    (``runner.threads``) sets the count for the run whatever the device. Yields the thread count in force
    (recorded in run.json as ``main_threads``)."""
    current = torch.get_num_threads()
    kind = getattr(device, "type", None) or (str(device).split(":")[0] if device is not None else None)
    if override is not None:
        if override < 1:
            raise ValueError(f"runner.threads must be >= 1, got {override}")
        target = override
    elif kind != "cpu":
        yield current
        return
    else:
        others = busy_cores() if busy is None else busy
        target = max(1, min(current, (cores or available_cores()) - num_workers - others))
    if target == current:
        yield current
        return
    log.info("torch intra-op threads %d -> %d for this run (%s)", current, target,
             "runner.threads" if override is not None else
             f"model on CPU beside {num_workers} DataLoader workers and a load of other processes")
    torch.set_num_threads(target)
    try:
        yield target
    finally:
        torch.set_num_threads(current)
