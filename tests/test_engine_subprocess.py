"""Crash safety and data parallelism in real processes: SIGKILL mid-run then resume (with a different number of
processes), and a 2-rank gloo run (torchrun-style environment) against a single-process run."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from awaker_eval.engine.store import shard_files
from test_engine_support import run_fake

N = 24
SCRIPT = Path(__file__).with_name("test_engine_support.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(run_dir: Path, image_dir: Path, world_size: int = 1, delay: float = 0.0,
           extra: tuple[str, ...] = ()) -> list[subprocess.Popen]:
    """Start the ranks the way torchrun would (RANK / WORLD_SIZE / LOCAL_RANK / MASTER_*)."""
    port = free_port()
    procs = []
    for rank in range(world_size):
        env = dict(os.environ, RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank),
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
        args = [sys.executable, str(SCRIPT), "--run-dir", str(run_dir), "--image-dir", str(image_dir),
                "--n", str(N), "--batch-size", "4", "--delay", str(delay), *extra]
        procs.append(subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return procs


def finish(procs: list[subprocess.Popen]) -> dict:
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    return json.loads(outs[0][0].strip().splitlines()[-1])


def shard_ids(run_dir: Path) -> list[str]:
    return [json.loads(line)["id"] for f in shard_files(run_dir) for line in f.read_text().splitlines()]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    images = tmp_path_factory.mktemp("images")
    result, _ = run_fake(tmp_path_factory.mktemp("ref"), images, N, batch_size=4)
    return images, [(p.id, p.extracted, p.raw_output) for p in result.predictions]


def merged(run_dir: Path) -> list[tuple]:
    rows = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
    return [(r["id"], r["extracted"], r["raw_output"]) for r in rows]


def test_sigkill_mid_run_then_resume_on_two_ranks(tmp_path, reference):
    images, expected = reference
    run_dir = tmp_path / "run"
    (proc,) = launch(run_dir, images, delay=0.4)
    shard = run_dir / "shards" / "predictions.rank0.jsonl"
    deadline = time.time() + 90
    while time.time() < deadline:
        if shard.exists() and shard.read_text().count("\n") >= 8:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    before = shard.read_text().count("\n")
    assert 8 <= before < N and not (run_dir / "predictions.jsonl").exists()

    summary = finish(launch(run_dir, images, world_size=2))
    assert summary == {"world_size": 2, "total": N, "done": N - before, "skipped": before, "failed": 0}
    assert merged(run_dir) == expected
    counts = Counter(shard_ids(run_dir))
    assert len(counts) == N and max(counts.values()) == 1  # nothing lost, nothing computed twice


def test_gloo_two_ranks_match_a_single_process(tmp_path, reference):
    images, expected = reference
    summary = finish(launch(tmp_path, images, world_size=2))
    assert summary == {"world_size": 2, "total": N, "done": N, "skipped": 0, "failed": 0}
    assert merged(tmp_path) == expected
    files = shard_files(tmp_path)
    assert [f.name for f in files] == ["predictions.rank0.jsonl", "predictions.rank1.jsonl"]
    assert [f.read_text().count("\n") for f in files] == [N // 2, N // 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["predictions.jsonl", "shards"]
