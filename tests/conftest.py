"""Shared test fixtures: the ``../shared`` data directory and single-threaded torch."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def shared_path(*parts: str) -> Path:
    """Path under ``../shared``; skips the test when absent (fails instead when CI=true)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        reason = f"{path} is absent: these tests need the ../shared fixtures beside the repository"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.fixture(autouse=True, scope="session")
def _single_thread_torch():
    """Two threads are 5-40x slower on the 2-core test machines under load."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
        return
    torch.set_num_threads(1)
    yield


@pytest.fixture
def golden_dir() -> Path:
    return shared_path("awaker_golden")


@pytest.fixture
def fixtures_dir() -> Path:
    return shared_path("benchmark_fixtures")


@pytest.fixture(scope="session")
def tiny_cache_dir(tmp_path_factory) -> Path:
    """A cache directory holding the tiny random Qwen2-VL checkpoint, built once per test session."""
    from awaker_eval.models.tiny import ensure_tiny_checkpoint

    root = tmp_path_factory.mktemp("awaker_eval_cache")
    ensure_tiny_checkpoint(root)
    return root


@pytest.fixture(scope="session")
def tiny_model(tiny_cache_dir):
    """The tiny model loaded through the same factory / from_pretrained path as real checkpoints (fp32, CPU)."""
    from awaker_eval.config.schema import ModelConfig
    from awaker_eval.models.factory import build_model

    return build_model(ModelConfig(name="tiny", kind="tiny", dtype="float32", device="cpu", cache_dir=str(tiny_cache_dir)))


@pytest.fixture
def cases(fixtures_dir) -> dict:
    """The recorded upstream answer-extraction cases (both benchmarks)."""
    import json

    return json.loads((fixtures_dir / "answer_extraction_cases.json").read_text(encoding="utf-8"))
