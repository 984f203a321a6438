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
