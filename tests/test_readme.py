"""README tells the truth: every fenced bash command that needs no GPU, hub or outside file runs as written.

Blocks are executed in README order in a scratch folder (so ``results/`` is the scratch one) with the tiny
model cache of the test session; a block whose first line is ``# needs: ...`` is skipped, and the test lists
what it skipped, so a new block is run unless it says why it cannot be.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)


def bash_blocks(text: str) -> list[list[str]]:
    """The command lines of each fenced bash block (comment-only and blank lines dropped, ``# needs:`` kept)."""
    blocks = []
    for body in FENCE.findall(text):
        lines = [line.strip() for line in body.splitlines() if line.strip()]
        blocks.append([line for line in lines if not line.startswith("#") or line.startswith("# needs:")])
    return blocks


def runnable(blocks: list[list[str]]) -> tuple[list[str], list[str]]:
    """(commands to run, the ``# needs:`` reasons of the skipped blocks)."""
    commands, skipped = [], []
    for block in blocks:
        if block and block[0].startswith("# needs:"):
            skipped.append(block[0])
        else:
            commands += block
    return commands, skipped


def test_readme_blocks_are_parsed_as_expected():
    commands, skipped = runnable(bash_blocks((REPO / "README.md").read_text(encoding="utf-8")))
    assert commands[0] == "python -m awaker_eval"  # the demo comes first: everything after builds on it
    assert skipped == ["# needs: network (pip)",
                       "# needs: nothing, but this is the test suite itself (tests/test_readme.py runs every other "
                       "block)", "# needs: GPU, hub", "# needs: hub, GPU", "# needs: a VLMEvalKit output file, an MMBench TEST run (hub)"]
    assert len(commands) >= 9


@pytest.mark.slow
def test_readme_commands_run_as_written(tmp_path, tiny_cache_dir):
    commands, _ = runnable(bash_blocks((REPO / "README.md").read_text(encoding="utf-8")))
    home = tmp_path / "home"
    (home / ".cache").mkdir(parents=True)
    (home / ".cache" / "awaker_eval").symlink_to(tiny_cache_dir)  # README's default cache: the session's model
    pyenv_root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    # `python` and `awaker-eval` are this interpreter's (the venv README's install block made), wherever PATH points
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = dict(os.environ, HOME=str(home), PYENV_ROOT=pyenv_root, PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", PATH=path)
    work = tmp_path / "work"
    work.mkdir()
    for command in commands:
        out = subprocess.run(["bash", "-c", command], cwd=work, env=env, capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, f"README command failed: {command}\n{out.stdout[-1500:]}\n{out.stderr[-2500:]}"
        assert "Traceback" not in out.stderr, command
    assert (work / "results" / "comparison.html").is_file()
    sweep = work / "results" / "sweeps" / "model.seed=0,1__benchmark.limit=4"
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0_model.seed=0", "1_model.seed=1"]
