"""Data parallelism under torchrun: process-group setup, cost-balanced sharding, and ranks that fail together.

Ranks exchange only small things (the run directory string, a few counters, per-sample cost estimates) through the
rendezvous store (torchrun's TCPStore); predictions travel through files (each rank its own shard file, rank 0 merges
by reading them), so no large gather can hang or run out of memory. A single process (no ``WORLD_SIZE`` or
``WORLD_SIZE=1``) never touches torch.distributed.

Failing together: every wait (barriers, exchanges) polls the store instead of blocking in a collective, and checks
between polls (and the engine after every batch) whether a peer has failed or died. A rank that raises writes
``failed/<rank>`` = its message before leaving; the others raise :class:`PeerFailure` naming that rank and message.
A heartbeat thread per rank bumps ``beat/<rank>`` every few seconds; a peer whose counter stops moving for
``liveness_s`` (SIGKILL, host OOM, a hung driver) is reported dead. A lost store (the rank hosting it died) is a
PeerFailure too. Joining the group is bounded as well (``timeout_s``), so no rank waits for hours. A rank that
receives SIGTERM (SLURM, or torchrun stopping a node's workers) raises ``Terminated`` and reports it like any failure.
The same holds across nodes (``--nnodes M --rdzv-backend c10d``): only the store's address differs.
"""

from __future__ import annotations

import heapq
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable, Sequence

from awaker_eval.engine.rank_sync import PeerFailure, RankSync, raise_terminated

# Bound on the rendezvous and process-group setup: the ranks of one job start together (imports, no model yet), so
# a rank missing for this long has died before joining. After setup no wait of this module depends on it.
DEFAULT_TIMEOUT_S = 300
LIVENESS_S = 40.0  # a peer silent this long is dead: every rank stops well within a minute
HEARTBEAT_S = 2.0
_SYNC: RankSync | None = None  # this process's RankSync while a group is initialised
_PREVIOUS_SIGTERM: Any = None  # the SIGTERM handler before init_distributed installed raise_terminated


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


def init_distributed(
    backend: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S, liveness_s: float = LIVENESS_S,
    heartbeat_s: float = HEARTBEAT_S,
) -> DistInfo:
    """Join the torchrun process group (nccl when CUDA is available, else gloo) and start this rank's heartbeat;
    no-op for one process. ``timeout_s`` bounds joining (a rank that dies before it joins stops the others then);
    ``liveness_s``: how long a silent peer is waited for afterwards before it is declared dead."""
    global _SYNC
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
        timeout = timedelta(seconds=timeout_s)
        # The env:// rendezvous torch itself would run (it connects to torchrun's agent store when there is one);
        # done here so that this module keeps the store for its failure flags and heartbeats.
        try:
            store, rank, world = next(dist.rendezvous("env://", info.rank, world, timeout=timeout))
            store.set_timeout(timeout)
            dist.init_process_group(
                backend=backend or ("nccl" if use_cuda else "gloo"), store=dist.PrefixStore("default_pg", store),
                rank=rank, world_size=world, timeout=timeout,
                device_id=torch.device("cuda", info.local_rank) if use_cuda else None,
            )
        except RuntimeError as exc:  # DistStoreError / DistNetworkError: a rank never arrived or died joining
            raise PeerFailure(
                f"rank {info.rank}: the group of {world} ranks did not form within {timeout_s:.0f} s "
                f"({type(exc).__name__}: {exc}); a rank died or never started"
            ) from exc
        _SYNC = RankSync(store, rank, world, liveness_s=liveness_s, heartbeat_s=heartbeat_s)
        _report_sigterm()
    return DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=info.local_rank)


def _report_sigterm() -> None:
    """A rank stopped by SIGTERM (SLURM, a node's torchrun agent) raises ``Terminated``, which it reports to the
    other ranks on every node before exiting, as any failure; without this it would vanish silently and the others
    would notice only after ``liveness_s``. Only the main thread can install a handler."""
    global _PREVIOUS_SIGTERM
    if threading.current_thread() is threading.main_thread() and _PREVIOUS_SIGTERM is None:
        _PREVIOUS_SIGTERM = signal.signal(signal.SIGTERM, raise_terminated)


def dist_info() -> DistInfo:
    """The current process's place in the group (single process when none is initialised)."""
    if not _initialized():
        return DistInfo()
    import torch.distributed as dist

    return DistInfo(dist.get_rank(), dist.get_world_size(), _env_int("LOCAL_RANK", 0))


def local_world_size() -> int:
    """Ranks of the group on this host (torchrun's LOCAL_WORLD_SIZE; 1 for one process): they share its memory."""
    return _env_int("LOCAL_WORLD_SIZE", 1) if _initialized() else 1


def is_main() -> bool:
    return dist_info().is_main


def _sync() -> RankSync | None:
    return _SYNC if _SYNC is not None and _initialized() else None  # no torch import for a single process


def check_peers() -> None:
    """Raise PeerFailure when another rank has failed or died (the engine calls this after every batch)."""
    if (sync := _sync()) is not None:
        sync.check()


@contextmanager
def failing_together() -> Iterator[None]:
    """Around a stage all ranks run: an exception here is reported to the other ranks (which then stop with this
    rank's message), and this rank waits briefly until they have seen it before the exception propagates."""
    try:
        yield
    except BaseException as exc:
        if (sync := _sync()) is not None and not isinstance(exc, GeneratorExit):
            if not isinstance(exc, PeerFailure):
                sync.report(exc)
            sync.linger()
        raise


def barrier() -> None:
    """Wait for every rank (however long the slowest one takes), stopping early when a peer fails or dies."""
    if (sync := _sync()) is not None:
        sync.barrier()
    elif _initialized():  # a group someone else initialised: plain collectives (no failure detection)
        import torch.distributed as dist

        dist.barrier()


def broadcast_str(value: str | None) -> str:
    """Rank 0's ``value`` on every rank (e.g. the run directory chosen on rank 0)."""
    sync = _sync()
    if sync is not None:
        value = sync.broadcast(value if sync.rank == 0 else None)
    elif _initialized():
        import torch.distributed as dist

        box = [value if dist.get_rank() == 0 else None]
        dist.broadcast_object_list(box, src=0)
        value = box[0]
    if value is None:
        raise ValueError("broadcast_str: rank 0 supplied no value")
    return str(value)


def all_gather(value: Any) -> list[Any]:
    """Every rank's small JSON-able ``value``, in rank order (``[value]`` for one process)."""
    sync = _sync()
    if sync is not None:
        return sync.gather(value)
    if not _initialized():
        return [value]
    import torch.distributed as dist

    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, value)
    return out


def sum_ints(values: Sequence[int]) -> list[int]:
    """Element-wise sum of a few counters over all ranks."""
    return [sum(int(v) for v in column) for column in zip(*all_gather(list(values)))]


def max_float(value: float) -> float:
    """The largest value over all ranks (wall times: the run lasts as long as its slowest rank)."""
    return max(float(v) for v in all_gather(float(value)))


def assign_by_cost(costs: Sequence[int], world_size: int) -> list[list[int]]:
    """Indices of ``costs`` per rank: greedy longest-processing-time, each rank holding at most ceil(n / world)
    samples (generation also costs per sample, not only per prompt token). Most expensive first (ties by index),
    each to the least-loaded rank with room (ties by rank): deterministic, so identical on every rank."""
    if world_size < 1:
        raise ValueError(f"world size must be >= 1, got {world_size}")
    cap = -(-len(costs) // world_size)
    shares: list[list[int]] = [[] for _ in range(world_size)]
    heap = [(0, r) for r in range(world_size)]  # (load, rank) of ranks with room
    for i in sorted(range(len(costs)), key=lambda k: (-costs[k], k)):
        load, r = heapq.heappop(heap)
        shares[r].append(i)
        if len(shares[r]) < cap:
            heapq.heappush(heap, (load + costs[i], r))
    return [sorted(share) for share in shares]


@dataclass(frozen=True)
class Share:
    """This rank's positions with their estimated costs, and every rank's total cost and sample count."""

    positions: list[int]
    costs: dict[int, int]
    rank_costs: list[int]
    rank_samples: list[int]

    def balance(self) -> dict[str, Any]:
        """For run.json and the log: per-rank totals and max/mean (1.0 = perfectly even)."""
        mean = sum(self.rank_costs) / len(self.rank_costs)
        return {"rank_costs": self.rank_costs, "rank_samples": self.rank_samples,
                "max_over_mean": round(max(self.rank_costs) / mean, 4) if mean > 0 else 1.0}


def estimate_costs(positions: Sequence[int], cost_of: Callable[[int], int], rank: int,
                   world_size: int) -> dict[int, int]:
    """The estimated cost of every position, by position. Each rank estimates one contiguous block (image headers
    are read once over the group, not once per rank, and neighbouring rows share parquet row groups) and the
    costs are exchanged."""
    positions = list(positions)
    block = -(-len(positions) // world_size) if positions else 0
    estimated = all_gather([cost_of(p) for p in positions[rank * block:(rank + 1) * block]])
    costs: dict[int, int] = {}
    for r, values in enumerate(estimated):
        costs.update(zip(positions[r * block:(r + 1) * block], (int(v) for v in values)))
    return costs


def balanced_share(pending: Sequence[int], cost_of: Callable[[int], int], rank: int, world_size: int) -> Share:
    """Rank ``rank``'s share of ``pending`` balanced by estimated cost (``estimate_costs`` over the group)."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside world size {world_size}")
    pending = list(pending)
    costs = estimate_costs(pending, cost_of, rank, world_size)
    shares = assign_by_cost([costs[p] for p in pending], world_size)
    mine = [pending[i] for i in shares[rank]]
    return Share(
        positions=mine, costs={p: costs[p] for p in mine},
        rank_costs=[sum(costs[pending[i]] for i in share) for share in shares],
        rank_samples=[len(share) for share in shares],
    )


def destroy() -> None:
    """Leave the group: stop the heartbeat and destroy the process group."""
    global _SYNC, _PREVIOUS_SIGTERM
    if _SYNC is not None:
        _SYNC.close()
        _SYNC = None
    if _PREVIOUS_SIGTERM is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _PREVIOUS_SIGTERM)
        _PREVIOUS_SIGTERM = None
    if _initialized():
        import torch.distributed as dist

        dist.destroy_process_group()
