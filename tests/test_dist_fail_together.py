"""Ranks fail together: two real gloo ranks (torchrun-style environment) where rank 1 raises mid-run or is
SIGKILLed; rank 0 must stop within seconds with rank 1's message instead of waiting for the group timeout."""

from __future__ import annotations

import json
import signal
import time

from test_engine_subprocess import N, launch
from test_engine_support import make_samples

from awaker_eval.engine.store import shard_files


def wait_all(procs, timeout: float = 60) -> tuple[list[tuple[str, str]], float]:
    t0 = time.monotonic()
    outs = [p.communicate(timeout=timeout) for p in procs]
    return outs, time.monotonic() - t0


def test_rank_that_raises_stops_the_other_with_its_message(tmp_path):
    images = tmp_path / "images"
    make_samples(images, N)
    procs = launch(tmp_path / "run", images, world_size=2, delay=0.5,
                   extra=("--broken-rank", "1", "--fail-fast", "4", "--liveness", "20"))
    (out0, err0), (out1, err1) = wait_all(procs)[0]
    assert procs[1].returncode != 0
    assert "AllSamplesFailed: the first 4 samples all failed (first error: ValueError: broken model)" in err1
    assert procs[0].returncode != 0
    assert ("PeerFailure: rank 1 failed: AllSamplesFailed: the first 4 samples all failed (first error: ValueError: "
            "broken model)") in err0
    # rank 0 stopped after a batch, not after its whole share: mid-run, and its finished batches are stored
    rows = [json.loads(line) for f in shard_files(tmp_path / "run") for line in f.read_text().splitlines()]
    rank0 = [r for r in rows if r["error"] is None]
    assert 0 < len(rank0) < N // 2 and not (tmp_path / "run" / "predictions.jsonl").exists()


def test_sigkilled_rank_makes_the_other_exit(tmp_path):
    images = tmp_path / "images"
    make_samples(images, N)
    run_dir = tmp_path / "run"
    procs = launch(run_dir, images, world_size=2, delay=0.5, extra=("--liveness", "3"))
    shard1 = run_dir / "shards" / "predictions.rank1.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and not (shard1.exists() and shard1.read_text().count("\n") >= 4):
        time.sleep(0.05)
    procs[1].send_signal(signal.SIGKILL)
    t_kill = time.monotonic()
    _, err0 = procs[0].communicate(timeout=60)
    procs[1].communicate(timeout=10)
    assert procs[1].returncode == -signal.SIGKILL
    assert procs[0].returncode != 0
    assert "PeerFailure: rank 1 stopped responding: no heartbeat for" in err0
    assert time.monotonic() - t_kill < 3 + 10  # liveness + a batch + start-up slack, never the group timeout
