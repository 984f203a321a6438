"""What the command line says about itself: ``--version``, ``run --help`` and a quiet end on a broken pipe.

``run --help`` is answered here, before Hydra, so it lists *our* config groups (read from ``conf/``) and the
overrides people actually change, instead of Hydra's generic text.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Sequence

from awaker_eval import __version__
from awaker_eval.config.paths import CONF_DIR
from awaker_eval.engine.metadata import git_state

COMMON_OVERRIDES = (
    ("benchmark.limit=N", "score the first N items only (a quick look; never comparable to published rows)"),
    ("benchmark.subset=stratified", "which N: first (default) | random | stratified (each category's share)"),
    ("benchmark.protocol=NAME", "prompt protocol (official, lmms_eval, ...); aliases resolve to one protocol"),
    ("benchmark.extractor=NAME", "answer extractor (MME-RealWorld official | vlmevalkit_2024 | fixed)"),
    ("benchmark.min_pixels=N benchmark.max_pixels=N", "image resolution bounds"),
    ("model.path=DIR_OR_HUB_ID", "Qwen2-VL checkpoint (local folder or hub id; model.revision pins it)"),
    ("model.adapter=DIR", "a PEFT LoRA adapter on top of model.path (model=qwen2_vl)"),
    ("model.checkpoint=FILE", "Awaker2.5-VL weights (model=awaker2_5_vl)"),
    ("model.dtype=bfloat16|float32", "weights dtype"),
    ("runner.mode=generate|choice", "greedy generation, or scoring each option's likelihood"),
    ("runner.batch_size=N", "samples per batch"),
    ("runner.shard=I/N", "only the I-th of N shards (a job array); the last merges (docs/scaling.md)"),
    ("output_dir=DIR  run_id=ID", "where the run goes (default: results/<benchmark>/<model>/<hash>)"),
    ("-m a=x,y", "a sweep: one job per value, resumable, under results/sweeps/<overrides>/"),
    ("--cfg job", "print the composed configuration without running"),
)


def version_line() -> str:
    """``awaker-eval 0.1.0 (git 7c52642, modified)``: the package version and the commit of its sources."""
    git = git_state()
    if not git.get("commit"):
        return f"awaker-eval {__version__} (not a git checkout)"
    dirty = ", with uncommitted changes" if git.get("dirty") else ""
    return f"awaker-eval {__version__} (git {git['commit'][:12]}{dirty})"


def config_groups(search_dirs: Sequence[Path] = ()) -> dict[str, list[str]]:
    """Every config group in ``conf/`` (and in any ``--config-dir`` folders) and its options (file stems)."""
    groups: dict[str, set[str]] = {}
    for root in (CONF_DIR, *search_dirs):
        if root.is_dir():
            for folder in sorted(d for d in root.iterdir() if d.is_dir()):
                groups.setdefault(folder.name, set()).update(f.stem for f in folder.glob("*.yaml"))
    return {group: sorted(options) for group, options in groups.items()}


def unknown_group_option(overrides: list[str], search_dirs: Sequence[Path] = ()) -> str | None:
    """The message for a ``group=option`` override whose option has no file (``benchmark=bogus``), checked before
    Hydra so the user gets the valid choices instead of Hydra's search-path dump; else None. Sweep functions
    (``choice(...)``, ``glob(...)``) are left to the composition check."""
    groups = config_groups(search_dirs)
    for arg in overrides:
        key, sep, value = arg.partition("=")
        key = key.lstrip("+~")
        if not sep or key not in groups or arg.startswith("-") or "(" in value:
            continue
        for option in value.split(","):  # a sweep lists several
            if option not in groups[key] and option != "null":
                return (f"{key}={option!r} is unknown: Could not find '{key}/{option}'. Available options "
                        f"in '{key}': {', '.join(groups[key])} (conf/{key}/)")
    return None


def run_help() -> str:
    lines = ["usage: awaker-eval run [GROUP=OPTION ...] [KEY=VALUE ...]   (same as: python -m awaker_eval ...)",
             "", "Runs one benchmark on one model: prompts -> batched inference -> extraction -> scores with 95%",
             "intervals -> leaderboard and report.html. Rerunning the same command resumes the same run.", "",
             "config groups (conf/):"]
    lines += [f"  {group}=  {' | '.join(options)}" for group, options in config_groups().items()]
    lines += ["", "common overrides:"]
    lines += [f"  {key:<46} {what}" for key, what in COMMON_OVERRIDES]
    lines += ["", "A misspelt key fails before anything loads. Hydra's own help: awaker-eval run --hydra-help"]
    return "\n".join(lines)


def quiet_broken_pipe() -> None:
    """The reader of our stdout went away (``| head``): point stdout at /dev/null so exit flushes silently."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
