"""How many prepared batches may wait between the DataLoader workers and the model, and how they travel.

Why: every prepared batch a worker returns waits in a queue until the model takes it; with 8 workers x prefetch 4
and batches of ~65k visual tokens (fp32 ``pixel_values``, ~1.2 GB each) that is ~39 GB, all of it in /dev/shm
(torch's worker queue moves every tensor storage to shared memory, whatever the sharing strategy). A small
/dev/shm (a container's default 64 MB) then fails in the worker's queue thread and the run waits forever (older
torch: a bus error); a small host meets the OOM killer.

So the bytes in flight, ``workers x prefetch_factor`` (at most the number of batches) ``x the largest planned
batch`` (estimated from the plan: visual tokens from image headers), are kept under a budget: ``runner.prefetch_bytes``, or a quarter of the host's free
memory (MemAvailable, or the container's cgroup headroom when smaller) shared by this host's ranks. Prefetch is
lowered first, then workers, down to 0 (the main process prepares each batch). Where /dev/shm cannot hold what is in
flight, the workers send their tensors by value through the pipe instead (``transport="pipe"``, loader.ByValue).
Nothing here changes a prediction: only when and where batches are prepared.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

log = logging.getLogger(__name__)

MEM_FRACTION = 0.25  # of the host's free memory: the rest is the model process's (CPU activations, caches, peaks)
SHM_FRACTION = 0.5  # of /dev/shm free space that batches in flight may fill (NCCL and other processes use it too)
PREFETCH_FACTOR = 4  # batches each worker prepares ahead when the budget allows
TOKEN_BYTES = 24  # per padded prompt token: input_ids, attention_mask, mm_token_type_ids (int64 each)
SHM_PATH = "/dev/shm"
MEMINFO = "/proc/meminfo"
CGROUP_ROOT = "/sys/fs/cgroup"
TRANSPORTS = ("main_process", "shared_memory", "pipe")


@dataclass(frozen=True)
class HostMemoryPlan:
    """The DataLoader settings chosen for the run and the numbers they came from (``engine.host_memory``)."""

    budget_bytes: int | None  # bound on workers x prefetch_factor x largest_batch_bytes (None: host memory unknown)
    budget_source: str  # "runner.prefetch_bytes" | "derived"
    mem_available_bytes: int | None  # free host memory seen by this rank (MemAvailable or cgroup headroom)
    shm_free_bytes: int | None  # free space of /dev/shm (None: no /dev/shm)
    largest_batch_bytes: int  # estimated tensor bytes of the largest planned batch
    batches: int  # planned batches of this rank
    requested_workers: int  # runner.num_workers
    workers: int  # DataLoader workers used
    prefetch_factor: int | None  # batches per worker prepared ahead (None without workers)
    transport: str  # main_process | shared_memory | pipe
    pixel_dtype: str | None  # dtype of the pixel tensors the preparer hands over
    local_ranks: int = 1  # ranks of this run sharing the host's memory and /dev/shm

    @property
    def in_flight_bytes(self) -> int:
        return in_flight(self.workers, self.prefetch_factor, self.batches, self.largest_batch_bytes)

    def to_dict(self) -> dict:
        return {**asdict(self), "in_flight_bytes": self.in_flight_bytes}


def cgroup_headroom(root: str | Path = CGROUP_ROOT) -> int | None:
    """Bytes this container may still allocate under its cgroup memory limit (v2, else v1); None without a limit.
    Why: inside a container MemAvailable is the whole host's, and the container's limit is what the OOM killer
    enforces."""
    root = Path(root)
    for limit_file, usage_file in (("memory.max", "memory.current"),
                                   ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes")):
        try:
            limit = (root / limit_file).read_text().strip()
            usage = int((root / usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit == "max" or not limit.isdigit() or int(limit) >= 2 ** 60:  # v1 writes ~2^63 for "no limit"
            return None
        return max(0, int(limit) - usage)
    return None


def mem_available(meminfo: str | Path = MEMINFO, cgroup_root: str | Path = CGROUP_ROOT) -> int | None:
    """Free host memory in bytes: MemAvailable of ``/proc/meminfo``, or the cgroup headroom when smaller; None
    where neither can be read (not Linux)."""
    found = None
    try:
        for line in Path(meminfo).read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found = int(line.split()[1]) * 1024  # the kernel writes kB
                break
    except (OSError, ValueError, IndexError):
        found = None
    headroom = cgroup_headroom(cgroup_root)
    candidates = [v for v in (found, headroom) if v is not None]
    return min(candidates) if candidates else None


def shm_free(path: str | Path = SHM_PATH) -> int | None:
    """Free bytes of the shared-memory filesystem (what an unprivileged process may still write); None without one."""
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def batch_bytes(visual_tokens: int, padded_tokens: int, bytes_per_visual_token: int) -> int:
    """Estimated tensor bytes of one prepared batch: its pixels (no padding: the images' patches are concatenated)
    plus its padded token tensors."""
    return visual_tokens * bytes_per_visual_token + padded_tokens * TOKEN_BYTES


def derived_budget(mem_available_bytes: int | None, local_ranks: int = 1) -> int | None:
    """This rank's share of ``MEM_FRACTION`` of the host's free memory; None when it is unknown."""
    if mem_available_bytes is None:
        return None
    return int(mem_available_bytes * MEM_FRACTION) // max(1, local_ranks)


def in_flight(workers: int, prefetch: int | None, batches: int, largest: int) -> int:
    """Bytes of prepared batches waiting at most: ``workers x prefetch`` batches, never more than there are."""
    return min(workers * (prefetch or 0), batches) * largest


def fit_workers(requested: int, largest: int, budget: int | None, batches: int,
                prefetch: int = PREFETCH_FACTOR) -> tuple[int, int | None]:
    """(workers, prefetch_factor) whose batches in flight (``in_flight``) fit the budget: the prefetch is lowered
    first (parallel preparation matters more than depth), then workers, down to 0 (main process)."""
    if requested <= 0:
        return 0, None
    slots = budget // largest if budget is not None and largest > 0 else batches  # batches that fit at once
    if slots >= min(requested * prefetch, batches):
        return requested, prefetch
    if slots >= requested:
        return requested, slots // requested
    return (slots, 1) if slots >= 1 else (0, None)


def choose_transport(workers: int, in_flight: int, shm_free_bytes: int | None, local_ranks: int = 1) -> str:
    """Shared memory (torch's default, no copy through a pipe) where this rank's share of ``SHM_FRACTION`` of
    /dev/shm holds everything in flight; else the pipe, which needs no /dev/shm at all."""
    if workers <= 0:
        return "main_process"
    if shm_free_bytes is None:
        return "pipe"
    room = int(shm_free_bytes * SHM_FRACTION) // max(1, local_ranks)
    return "shared_memory" if in_flight <= room else "pipe"


def plan_host_memory(
    batch_sizes: Sequence[int], requested_workers: int, prefetch_bytes: int | None, pixel_dtype: str | None,
    mem_available_bytes: int | None, shm_free_bytes: int | None, local_ranks: int = 1,
) -> HostMemoryPlan:
    """The DataLoader settings for planned batches of ``batch_sizes`` bytes under the budget (plain values in,
    so the arithmetic is testable without the machine); logs one line when workers, or the transport, change."""
    if prefetch_bytes is not None and prefetch_bytes < 0:
        raise ValueError(f"runner.prefetch_bytes must be >= 0 or null, got {prefetch_bytes}")
    explicit = prefetch_bytes is not None
    budget = prefetch_bytes if explicit else derived_budget(mem_available_bytes, local_ranks)
    largest = max(batch_sizes, default=0)
    workers, prefetch = fit_workers(requested_workers, largest, budget, len(batch_sizes))
    transport = choose_transport(workers, in_flight(workers, prefetch, len(batch_sizes), largest), shm_free_bytes,
                                 local_ranks)
    plan = HostMemoryPlan(
        budget_bytes=budget, budget_source="runner.prefetch_bytes" if explicit else "derived",
        mem_available_bytes=mem_available_bytes, shm_free_bytes=shm_free_bytes, largest_batch_bytes=largest,
        batches=len(batch_sizes),
        requested_workers=requested_workers, workers=workers, prefetch_factor=prefetch, transport=transport,
        pixel_dtype=pixel_dtype, local_ranks=local_ranks,
    )
    _log_changes(plan)
    return plan


def _log_changes(plan: HostMemoryPlan) -> None:
    """One line when fewer workers run than asked, one when batches avoid /dev/shm."""
    if plan.workers < plan.requested_workers:
        where = "the main process prepares each batch" if plan.workers == 0 else f"{plan.workers} workers"
        log.warning("runner.num_workers=%d lowered: the largest planned batch is %s and the budget for batches in "
                    "flight is %s (%s), so %s", plan.requested_workers, _gb(plan.largest_batch_bytes),
                    _gb(plan.budget_bytes), plan.budget_source, where)
    if plan.transport == "pipe":
        log.warning("/dev/shm has %s free for %s of batches in flight: workers send batches through pipes instead "
                    "(slower; give the container a larger /dev/shm, e.g. docker --shm-size)",
                    _gb(plan.shm_free_bytes), _gb(plan.in_flight_bytes))


def _gb(n: int | None) -> str:
    return "unknown" if n is None else f"{n / 1e9:.3g} GB"


def probe_host() -> tuple[int | None, int | None]:
    """(free host memory, free /dev/shm) of this machine now."""
    return mem_available(), shm_free()

