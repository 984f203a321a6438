"""The Python API: ``awaker_eval.evaluate(overrides=[...])``, ``awaker_eval.compare(base, new, ...)`` and
``awaker_eval.explain(run_a, run_b, ...)``.

Why these two and why this way: lm-eval users call ``simple_evaluate``, inspect_ai users ``eval``; a notebook or a
training script wants the run directory and the numbers back, not a process exit. ``evaluate`` composes the config
with the same code as the command line (``overrides.compose_run_config``: the same checks, one line per problem,
secrets masked the same way) and runs the same ``pipeline.evaluate``; user errors are raised as exceptions (never
``SystemExit``). ``compare`` is the CI gate's computation (``report.comparison``) without its printing;
``explain`` is ``awaker-eval explain --json`` (runs what is missing, then the Shapley attribution).

Exceptions: ``awaker_eval.preflight.ConfigError`` (and its ``OverrideError``) for a bad setting or override,
``awaker_eval.data.errors.DataError`` for unusable data, ``FileNotFoundError`` for a missing file or run; after
every output is written, ``run_validity.TooManyFailedSamples``, ``extract.llm_judge.JudgeFailuresExceeded`` or
``result_logging.errors.LoggerFailed`` (the command line's exit 1). ``compare`` raises ``ValueError`` (bad option,
runs not comparable: ``report.compare.MismatchError``) and ``FileNotFoundError``; ``explain`` likewise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from awaker_eval.config.schema import RunConfig
from awaker_eval.attribution import Settings as ExplainSettings
from awaker_eval.attribution import as_json, explain_pair
from awaker_eval.overrides import compose_run_config, mask_secrets, split_command_line
from awaker_eval.pipeline import evaluate as run_pipeline
from awaker_eval.redact import install_log_redaction
from awaker_eval.report.comparison import Comparison, compare_runs, resolve_pair
from awaker_eval.report.options import check_options
from awaker_eval.report.runs import SCORES_FILE
from awaker_eval.tasks.registry import catalogue

__all__ = ["Evaluation", "Comparison", "evaluate", "compare", "explain"]


@dataclass(frozen=True)
class Evaluation:
    """One finished run: its directory (every file the command line writes) and its ``scores.json``."""

    run_dir: Path
    scores: dict[str, Any]  # e.g. scores["overall"], scores["ci"]["overall"] == [lo, hi] (fractions); {} for a
    # job-array shard (runner.shard=I/N) while other shards are still to finish
    config: RunConfig  # the settings it ran with (secrets included: keep it in memory)


def _override_list(overrides: Sequence[str]) -> list[str]:
    """The overrides as a list of ``key=value`` strings (a lone string is a common slip: refused, not split)."""
    if isinstance(overrides, (str, bytes)) or not all(isinstance(o, str) for o in overrides):
        raise TypeError(f"overrides must be a list of 'key=value' strings, e.g. ['benchmark.limit=8'] "
                        f"(got {overrides!r})")
    return list(overrides)


def evaluate(overrides: Sequence[str] = ()) -> Evaluation:
    """Run one benchmark as ``python -m awaker_eval OVERRIDES...`` would, and return its directory and scores.

    ``overrides`` are the command line's ``key=value`` / ``group=option`` items (no ``-m`` sweeps, no Hydra
    options). The run prints what the command prints; rerunning the same overrides resumes the same run."""
    argv = _override_list(overrides)
    cfg = compose_run_config(argv, command="evaluate")
    # the literal secrets in the overrides are masked from here on, as the command line masks them
    mask_secrets(split_command_line(argv, options=False), list(cfg.model.secret_patterns))
    install_log_redaction()
    run_dir = Path(run_pipeline(cfg))
    scored = not cfg.runner.shard or (run_dir / SCORES_FILE).is_file()  # a shard scores once it merged the run
    scores = json.loads((run_dir / SCORES_FILE).read_text(encoding="utf-8")) if scored else {}
    return Evaluation(run_dir, scores, cfg)


def compare(base: str | Path, new: str | Path | None = None, max_drop: float = 1.0, alpha: float = 0.05,
            gate_level: str = "split", n_boot: int = 1000, seed: int = 0,
            allow_mismatch: bool = False) -> Comparison:
    """The paired comparison of two runs (``awaker-eval compare BASE NEW``), printing nothing.

    ``base`` / ``new``: run directories (or ``Evaluation.run_dir``); ``new`` None: ``base`` is a sweep holding two
    runs. The result has ``verdict`` (PASSED / FAILED / INCONCLUSIVE), ``exit_status`` (0 / 1 / 3), ``table``
    (one row per aggregate, fractions), ``gate_status``, ``flips`` and ``verdict_line``."""
    max_drop, alpha = float(max_drop), float(alpha)  # as the command line parses them (same verdict line)
    check_options(n_boot=n_boot, alpha=alpha, max_drop=max_drop)
    base_run, new_run = resolve_pair(str(base), None if new is None else str(new), catalogue())
    return compare_runs(base_run, new_run, max_drop=max_drop, alpha=alpha, gate_level=gate_level, n_boot=n_boot,
                        seed=seed, allow_mismatch=allow_mismatch)


def explain(run_a: str | Path, run_b: str | Path, n_boot: int = 1000, seed: int = 0,
            permutations: int = 0) -> dict[str, Any]:
    """Which protocol knob moved the score from ``run_a`` to ``run_b`` (``awaker-eval explain A B --json``): the
    missing configurations run (or are re-extracted) next to ``run_a``, then ``{"total": pts, "contributions":
    {knob: pts}, "intervals": {knob: [lo, hi]}, "runs": [...], ...}``. ``permutations`` > 0: a sampled estimate
    (any number of knobs) instead of the exact one (at most 5)."""
    check_options(n_boot=n_boot)
    if permutations < 0:
        raise ValueError(f"permutations must be >= 1 for a sampled estimate, or 0 for the exact one "
                         f"(got {permutations})")
    benchmarks = catalogue()  # names -> objects, once
    a, b = resolve_pair(str(run_a), str(run_b), benchmarks)
    settings = ExplainSettings(n_boot=n_boot, seed=seed, permutations=permutations)
    return as_json(explain_pair(a, b, benchmarks, settings))
