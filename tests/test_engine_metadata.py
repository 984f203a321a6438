"""run.json facts: git commit + dirty flag, device, dtype, fingerprints, throughput, engine counters."""

from __future__ import annotations

import subprocess

import torch

from awaker_eval.engine.metadata import collect_run_metadata, git_state
from awaker_eval.engine.runner import EngineCounts, EngineResult, EngineTimings


def test_git_state_reports_commit_and_dirty_flag(tmp_path):
    def git(*args):
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path,
                              check=True, capture_output=True, text=True).stdout.strip()

    assert git_state(tmp_path) == {"commit": None, "dirty": None}  # not a checkout
    git("init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    git("add", "a.py")
    git("commit", "-q", "-m", "one")
    head = git("rev-parse", "HEAD")
    assert git_state(tmp_path) == {"commit": head, "dirty": False}
    (tmp_path / "a.py").write_text("x = 2\n")
    assert git_state(tmp_path) == {"commit": head, "dirty": True}


class StubModel:
    device = torch.device("cpu")
    dtype = torch.bfloat16

    def fingerprint(self):
        return {"kind": "stub", "dtype": "bfloat16"}


def test_run_metadata_holds_device_dtype_fingerprints_and_throughput():
    result = EngineResult(
        predictions=[], counts=EngineCounts(total=10, done=8, skipped=2, failed=1),
        timings=EngineTimings(model=3.0, total=4.0), samples_per_s=2.0, batches=3, oom_splits=1, main_threads=1,
    )
    meta = collect_run_metadata(result=result, model=StubModel(), protocol_fp="pfp", model_fp="mfp",
                                timings={"model_load_s": 1.5})
    assert (meta["dtype"], meta["device"]["device"], meta["protocol_fp"], meta["model_fp"]) == (
        "bfloat16", "cpu", "pfp", "mfp")
    assert meta["model_fingerprint"] == {"kind": "stub", "dtype": "bfloat16"}
    assert meta["throughput_samples_per_s"] == 2.0
    assert meta["counts"] == {"total": 10, "done": 8, "skipped": 2, "failed": 1}
    assert (meta["timings_s"]["model_load_s"], meta["timings_s"]["engine_model"], meta["timings_s"]["engine_total"]) == (
        1.5, 3.0, 4.0)
    assert meta["engine"] == {"world_size": 1, "batches": 3, "oom_splits": 1, "error_splits": 0, "main_threads": 1}
    assert meta["failures_by_type"] == {}
