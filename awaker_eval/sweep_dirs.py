"""Sweep folders named after what was swept, so the same ``-m`` command resumes into the same folder.

``conf/config.yaml`` sets ``hydra.sweep.dir: ${results_root}/sweeps/${awaker_sweep_key:}`` (the sweep's
command-line overrides, not the clock) and ``hydra.sweep.subdir: ${hydra.job.num}_${awaker_job_key:...}``
(``1_model=awaker_tiny``, not ``1``: the number keeps the job order that ``compare SWEEP`` relies on).
The resolvers are registered by the app right before Hydra composes (no import-time side effects).
"""

from __future__ import annotations

import hashlib
import re
import sys

JOB_DIR = re.compile(r"^\d+_(.*=.*)$")  # <job number>_<swept overrides>: the number keeps Hydra's job order
MAX_NAME = 96  # longer names are cut and get a hash of the full text, so they stay unique


def slug(text: str) -> str:
    """A folder name for an override string: unsafe characters (``/``, spaces, quotes) become ``-``."""
    name = re.sub(r"[^A-Za-z0-9=,._+-]+", "-", str(text)).strip("-.") or "default"
    if len(name) > MAX_NAME:
        name = name[: MAX_NAME - 9] + "-" + hashlib.sha256(text.encode()).hexdigest()[:8]
    return name


def sweep_key(argv: list[str] | None = None) -> str:
    """The sweep's own overrides (``key=value`` arguments of the command line, in order) as one folder name."""
    args = sys.argv[1:] if argv is None else argv
    return slug("__".join(a for a in args if "=" in a and not a.startswith("-")))


def _is_swept(value: str) -> bool:
    return "," in value or value.startswith(("range(", "choice(", "interval(", "glob("))


def job_key(job_overrides, argv: list[str] | None = None) -> str:
    """This job's values of the swept keys only (``model=awaker_tiny``), not every fixed override."""
    args = sys.argv[1:] if argv is None else argv
    swept = {a.split("=", 1)[0].lstrip("+~") for a in args if "=" in a and _is_swept(a.split("=", 1)[1])}
    items = [str(o) for o in job_overrides]
    chosen = [o for o in items if o.split("=", 1)[0].lstrip("+~") in swept] or items
    return slug(",".join(chosen))


def sweep_job_overrides(dirname: str) -> str | None:
    """The overrides a sweep job folder is named after (``3_model=awaker_tiny`` -> ``model=awaker_tiny``)."""
    match = JOB_DIR.match(dirname)
    return match.group(1) if match else None


def register_resolvers() -> None:
    from omegaconf import OmegaConf

    # cached: a launcher that runs the jobs in other processes (hydra/launcher=submitit_*) hands them the parent's
    # resolved values (Hydra copies the cache into each job's config), and a job's own argv is not the sweep's
    OmegaConf.register_new_resolver("awaker_sweep_key", lambda: sweep_key(), replace=True, use_cache=True)
    OmegaConf.register_new_resolver("awaker_job_key", job_key, replace=True)
