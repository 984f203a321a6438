"""Data parallelism under torchrun: process-group setup, deterministic sharding, tiny collectives only.

Ranks exchange only small things (the run directory string, a few counters, barriers); predictions travel through
files (each rank its own shard file, rank 0 merges by reading them), so no large gather can hang or run out of
memory. A single process (no ``WORLD_SIZE`` or ``WORLD_SIZE=1``) never touches torch.distributed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Sequence, TypeVar

T = TypeVar("T")

# Ranks wait at the final barrier for the slowest rank; shards are round-robin slices, and a benchmark takes hours.
DEFAULT_TIMEOUT_S = 6 * 3600


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def device(self) -> str:
        """The device this rank should put its model on: ``cuda:<local_rank>`` when CUDA exists, else ``cpu``."""
        import torch

        return f"cuda:{self.local_rank}" if torch.cuda.is_available() else "cpu"


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)  # torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ValueError(f"environment variable {name}={value!r} is not an integer (set by torchrun)") from exc


def _initialized() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def init_distributed(backend: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> DistInfo:
    """Join the torchrun process group (nccl when CUDA is available, else gloo); no-op for one process."""
    world = _env_int("WORLD_SIZE", 1)
    info = DistInfo(rank=_env_int("RANK", 0), world_size=world, local_rank=_env_int("LOCAL_RANK", 0))
    if world <= 1:
        return DistInfo()
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        use_cuda = torch.cuda.is_available()
        if use_cuda:
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(
            backend=backend or ("nccl" if use_cuda else "gloo"),
            timeout=timedelta(seconds=timeout_s),
            device_id=torch.device("cuda", info.local_rank) if use_cuda else None,
        )
    return DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=info.local_rank)


def dist_info() -> DistInfo:
    """The current process's place in the group (single process when none is initialised)."""
    if not _initialized():
        return DistInfo()
    import torch.distributed as dist

    return DistInfo(dist.get_rank(), dist.get_world_size(), _env_int("LOCAL_RANK", 0))


def is_main() -> bool:
    return dist_info().is_main


def barrier() -> None:
    if _initialized():
        import torch.distributed as dist

        dist.barrier()


def broadcast_str(value: str | None) -> str:
    """Rank 0's ``value`` on every rank (e.g. the run directory chosen on rank 0)."""
    if not _initialized():
        if value is None:
            raise ValueError("broadcast_str: rank 0 must supply a value")
        return value
    import torch.distributed as dist

    box = [value if dist.get_rank() == 0 else None]
    dist.broadcast_object_list(box, src=0)
    if box[0] is None:
        raise ValueError("broadcast_str: rank 0 supplied no value")
    return str(box[0])


def sum_ints(values: Sequence[int]) -> list[int]:
    """Element-wise sum of a few counters over all ranks (a tiny all-reduce)."""
    if not _initialized():
        return list(values)
    import torch
    import torch.distributed as dist

    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    t = torch.tensor(list(values), dtype=torch.int64, device=device)
    dist.all_reduce(t)
    return [int(v) for v in t.tolist()]


def max_float(value: float) -> float:
    """The largest value over all ranks (wall times: the run lasts as long as its slowest rank)."""
    if not _initialized():
        return value
    import torch
    import torch.distributed as dist

    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t.item())


def shard(items: Sequence[T], rank: int, world_size: int) -> list[T]:
    """Rank ``rank``'s share: every ``world_size``-th item (the engine slices pending samples in sample order, so
    every rank gets an even mix of image sizes; each rank then sorts its own share by cost)."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside world size {world_size}")
    return list(items[rank::world_size])


def destroy() -> None:
    if _initialized():
        import torch.distributed as dist

        dist.destroy_process_group()
