"""Result files are written atomically and with the mode ``open()`` would give them (0666 less the umask), so
teammates on a shared results directory can read predictions.jsonl / scores.json / run.json, not only the report."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from awaker_eval import cli
from awaker_eval.atomic_io import write_text_atomic


@pytest.fixture
def umask():
    """Set a umask for one test, restoring the process's own afterwards."""
    old = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600), (0o002, 0o664)])
def test_written_file_honours_the_umask(tmp_path, umask, mask, expected):
    umask(mask)
    path = write_text_atomic(tmp_path / "scores.json", "{}")
    write_text_atomic(path, iter(["a\n", "b\n"]))  # replacing keeps the umask's mode too
    assert (mode(path), path.read_text(), sorted(os.listdir(tmp_path))) == (expected, "a\nb\n", ["scores.json"])


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path, umask):
    path = write_text_atomic(tmp_path / "run.json", "old")

    def pieces():
        yield "new"
        raise RuntimeError("stopped mid-write")

    with pytest.raises(RuntimeError, match="stopped mid-write"):
        write_text_atomic(path, pieces())
    assert (path.read_text(), os.listdir(tmp_path)) == ("old", ["run.json"])


def test_run_outputs_are_0644_under_umask_022(tmp_path, tiny_cache_dir, umask):
    umask(0o022)
    run_dir = tmp_path / "run"
    assert cli.main(["benchmark.limit=2", f"model.cache_dir={tiny_cache_dir}", f"benchmark.cache_dir={tmp_path / 'data'}",
                     "runner.progress=false", "runner.bootstrap_samples=20", f"output_dir={run_dir}"]) == 0
    names = ("config.yaml", "predictions.jsonl", "scores.json", "leaderboard.md", "run.json", "report.html")
    assert {name: oct(mode(run_dir / name)) for name in names} == {name: "0o644" for name in names}
