"""Where commands over several runs write by default: beside the runs, never the current directory.

``report A B`` writes ``comparison.html`` (+ ``comparison_plots/``) and ``plot A B`` writes ``plots/`` into the
folder that holds the runs: the sweep directory for a Hydra multirun, else the runs' nearest common folder.
``--out`` always wins.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from awaker_eval.report.runs import Run

COMPARISON_FILE = "comparison.html"
PLOTS_DIR = "plots"


def beside_runs(runs: Sequence[Run]) -> Path:
    """The nearest folder holding every run (one run: the run directory itself). Runs that share nothing but the
    filesystem root get the first run's parent folder."""
    paths = [os.path.abspath(run.path) for run in runs]
    if len(paths) == 1:
        return Path(paths[0])
    common = Path(os.path.commonpath(paths))
    if common.parent == common:  # only "/" in common: nothing a user would call beside the runs
        return Path(paths[0]).parent
    if str(common) in paths:  # one run inside another's folder: write beside that run, not into it
        return common.parent
    return common


def default_comparison(runs: Sequence[Run]) -> Path:
    return beside_runs(runs) / COMPARISON_FILE


def default_plots(runs: Sequence[Run]) -> Path:
    return beside_runs(runs) / PLOTS_DIR
