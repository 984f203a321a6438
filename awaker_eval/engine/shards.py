"""Job-array shards (``runner.shard=I/N``): which samples the I-th of N independent invocations owns.

Why the whole sample list and not the pending samples, as the ranks of one torchrun group split them: shards run
at different times, so each would see a different store; the assignment must depend only on the run (the samples
and their estimated costs), so that every shard computes the same N parts whenever it starts. The parts are the
ranks' cost-balanced assignment (``distributed.assign_by_cost``) applied to every sample. Within one shard, the
ranks of a torchrun group share the header reads (each estimates one block, as ``balanced_share`` does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from awaker_eval.engine import distributed as D

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Part:
    """The ``index``-th of ``count`` shards of one run."""

    index: int
    count: int

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def tag(self) -> str:
        """The suffix of this shard's files: ``part1of3``."""
        return f"part{self.index}of{self.count}"


def parse_part(text: Any) -> Part | None:
    """``"I/N"`` -> Part (None for None or ""); ValueError with the reason for anything else."""
    if text is None or str(text).strip() == "":
        return None
    match = _SHARD.match(str(text))
    if match is None:
        raise ValueError(f"{text!r} is not I/N (the I-th of N shards, counted from 0: e.g. 0/3, 1/3, 2/3)")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1:
        raise ValueError(f"{text!r}: the number of shards N must be at least 1")
    if not 0 <= index < count:
        raise ValueError(f"{text!r}: the shard index I must be from 0 to {count - 1} for N={count}")
    return Part(index, count)


def all_costs(n: int, cost_of: Callable[[int], int]) -> list[int]:
    """The estimated cost of positions 0..n-1; the ranks of a group each estimate one block and exchange them."""
    dist = D.dist_info()
    costs = D.estimate_costs(range(n), cost_of, dist.rank, dist.world_size)
    return [costs[p] for p in range(n)]


@dataclass(frozen=True)
class Assignment:
    """The positions of one shard, and every shard's estimated cost and sample count (for run.json)."""

    positions: list[int]
    part_costs: list[int]
    part_samples: list[int]

    def balance(self) -> dict[str, Any]:
        mean = sum(self.part_costs) / len(self.part_costs)
        return {"part_costs": self.part_costs, "part_samples": self.part_samples,
                "max_over_mean": round(max(self.part_costs) / mean, 4) if mean > 0 else 1.0}


def assign_part(costs: Sequence[int], part: Part) -> Assignment:
    """Shard ``part``'s positions among ``len(costs)`` samples: the ranks' assignment over every sample."""
    shares = D.assign_by_cost(list(costs), part.count)
    return Assignment(positions=shares[part.index], part_costs=[sum(costs[i] for i in s) for s in shares],
                      part_samples=[len(s) for s in shares])
