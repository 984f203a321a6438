"""Shards balanced by estimated cost: a deterministic capped longest-processing-time assignment, identical on every
rank, covering every sample once; the balance is recorded in the engine result (run.json)."""

from __future__ import annotations

import random

import pytest
from test_engine_support import run_fake

from awaker_eval.engine.distributed import Share, assign_by_cost, balanced_share


def skewed_costs(n: int = 2000, seed: int = 0) -> list[int]:
    """MME-RealWorld-like: most prompts a few thousand tokens, one in ten at the 16k visual-token cap."""
    rng = random.Random(seed)
    return [16_384 if rng.random() < 0.1 else rng.randint(300, 4000) for _ in range(n)]


def max_over_mean(costs, shares) -> float:
    totals = [sum(costs[i] for i in s) for s in shares]
    return max(totals) / (sum(totals) / len(totals))


def test_assignment_covers_every_sample_once_and_is_deterministic():
    costs = skewed_costs()
    shares = assign_by_cost(costs, 8)
    assert sorted(i for s in shares for i in s) == list(range(len(costs)))
    assert shares == assign_by_cost(list(costs), 8)  # what every rank computes
    assert all(s == sorted(s) for s in shares) and {len(s) for s in shares} == {250}


def test_skewed_mix_is_balanced_where_round_robin_is_not():
    costs = [16_384 if i % 8 == 0 else 500 for i in range(800)]  # every big image lands on rank 0 round-robin
    round_robin = [list(range(r, 800, 8)) for r in range(8)]
    assert max_over_mean(costs, round_robin) == pytest.approx(16_384 / ((16_384 + 7 * 500) / 8), rel=1e-9)
    # 100 capped images over 8 ranks: 13 on some ranks, 12 on others, and the count cap (100 samples per rank)
    # limits how many small ones can even it out: 1.032 (round-robin: 2.164)
    assert max_over_mean(costs, assign_by_cost(costs, 8)) == pytest.approx(1.03195, abs=1e-5)
    assert max_over_mean(skewed_costs(), assign_by_cost(skewed_costs(), 8)) < 1.01


def test_small_and_degenerate_inputs():
    # 5 -> r0, 4 -> r1, 3 -> r1 (4 < 5), 2 -> r0 (5 < 7), 1 -> r0 (7 = 7: lower rank): 8 vs 7
    assert assign_by_cost([5, 1, 4, 2, 3], 2) == [[0, 1, 3], [2, 4]]
    assert assign_by_cost([], 3) == [[], [], []]
    assert assign_by_cost([7, 7], 4) == [[0], [1], [], []]
    with pytest.raises(ValueError, match="world size must be >= 1, got 0"):
        assign_by_cost([1], 0)


def test_single_process_share_and_balance_record():
    share = balanced_share([3, 5, 9], lambda p: p * 10, rank=0, world_size=1)
    assert share == Share(positions=[3, 5, 9], costs={3: 30, 5: 50, 9: 90}, rank_costs=[170], rank_samples=[3])
    assert share.balance() == {"rank_costs": [170], "rank_samples": [3], "max_over_mean": 1.0}
    with pytest.raises(ValueError, match="rank 2 is outside world size 2"):
        balanced_share([1], lambda p: 1, rank=2, world_size=2)


def test_engine_records_the_shard_balance(tmp_path):
    result, model = run_fake(tmp_path / "run", tmp_path / "images", 6, batch_size=4)
    shards = result.to_dict()["shards"]
    expected = sum(max(1, (20 + (i * 7) % 50) * (20 + (i * 13) % 40) // 64) for i in range(6))
    assert shards["rank_samples"] == [6] and shards["max_over_mean"] == 1.0
    assert shards["rank_costs"][0] > expected  # visual tokens from the image headers + text tokens
