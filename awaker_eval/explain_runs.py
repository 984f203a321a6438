"""Getting every configuration of an attribution onto disk and reading them back as aligned per-unit outcomes.

Why here, as an entry point: the missing configurations run through the normal pipeline (``pipeline.evaluate``,
with the same checks, store and resume as ``awaker-eval run``), and the extractor-only ones are re-read from
stored raw outputs (``reextract_run``), so interrupting and rerunning loses nothing and a rerun whose
directories are all there runs nothing. Each configuration's directory is then checked like the two given runs:
scored, not invalid, the same model and items as A, and the knob values the plan asked for; a directory that
fails a check is refused by name, never silently averaged in.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Mapping

import numpy as np

from awaker_eval import pipeline
from awaker_eval.explain_plan import GIVEN, NEEDS_MODEL, REEXTRACT, Plan, Slot
from awaker_eval.extract.llm_judge import JudgeFailuresExceeded
from awaker_eval.reextract_run import write_reextracted
from awaker_eval.report.compare import sample_difference
from awaker_eval.report.comparison import usable_run
from awaker_eval.report.knobs import knob_values
from awaker_eval.report.runs import Run, load_run
from awaker_eval.rundir import config_yaml
from awaker_eval.run_validity import TooManyFailedSamples

MASKED = "***"


def usable(run: Run) -> Run:
    """A run whose numbers an attribution may use: scored, and not marked invalid (as ``compare`` requires)."""
    return usable_run(run, "explain", "explaining")


def model_difference(a: Run, b: Run) -> str | None:
    """None when both runs' predictions were made by the same weights (model fingerprints), else why not."""
    fps_a = {p.model_fp for p in a.predictions()}
    fps_b = {p.model_fp for p in b.predictions()}
    if fps_a == fps_b:
        return None
    return f"model: {a.path} was made by model fingerprint(s) {sorted(fps_a)[:2]}, {b.path} by {sorted(fps_b)[:2]}"


def _run_inference(slot: Slot) -> None:
    """One configuration through the normal pipeline (its printout goes to stderr: stdout may be ``--json``)."""
    if MASKED in config_yaml(slot.cfg):
        raise ValueError(f"configuration {slot.label} needs inference, but run A's settings hold a redacted secret "
                         f"({MASKED}): run it yourself with output_dir={slot.run_dir}, then rerun explain")
    print(f"explain: running configuration {slot.label} -> {slot.run_dir}", file=sys.stderr)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            pipeline.evaluate(slot.cfg)
    except (TooManyFailedSamples, JudgeFailuresExceeded) as exc:
        raise ValueError(f"configuration {slot.label} ({slot.run_dir}): {exc}") from None


def materialize(plan: Plan, benchmarks: Mapping) -> None:
    """Run the configurations that need inference, then write the re-extracted ones from their sources."""
    for _, slot in sorted(plan.slots.items()):
        if slot.status in NEEDS_MODEL:
            _run_inference(slot)
    for _, slot in sorted(plan.slots.items()):
        if slot.status == REEXTRACT:
            source = plan.slots[slot.source]
            run = plan.a if source.run_dir == plan.a.path else plan.b if source.run_dir == plan.b.path \
                else load_run(source.run_dir, benchmarks)
            print(f"explain: re-extracting configuration {slot.label} from {source.run_dir} -> {slot.run_dir}",
                  file=sys.stderr)
            write_reextracted(run, slot.cfg, slot.run_dir)


def _checked(plan: Plan, slot: Slot, run: Run) -> Run:
    """A configuration's run, refused unless it holds the plan's knob values, A's items and A's model."""
    usable(run)
    stored = knob_values(run.config)
    wrong = [f"{k}={stored[k]!r} (expected {v!r})" for k, v in slot.config.values.items() if stored[k] != v]
    problem = (f"holds {', '.join(wrong)}" if wrong
               else sample_difference(plan.a, run) or model_difference(plan.a, run))
    if problem:
        raise ValueError(f"{run.path}: configuration {slot.label} is stale or not this pair's: {problem}; "
                         "remove that directory and rerun explain")
    return run


def load_outcomes(plan: Plan, benchmarks: Mapping) -> tuple[dict[int, Run], dict[int, np.ndarray]]:
    """Every configuration's run and its per-unit outcomes (0/1), aligned to run A's unit order."""
    units = plan.a.units()["unit"].tolist()
    runs: dict[int, Run] = {}
    outcomes: dict[int, np.ndarray] = {}
    for mask, slot in sorted(plan.slots.items()):
        if slot.status == GIVEN:
            run = plan.a if mask == 0 else plan.b
        else:
            run = _checked(plan, slot, load_run(slot.run_dir, benchmarks))
        correct = run.units().set_index("unit")["correct"].reindex(units)
        if correct.isna().any():
            raise ValueError(f"{run.path}: its units differ from run A's ({int(correct.isna().sum())} of A's units "
                             "missing): not the same items")
        runs[mask], outcomes[mask] = run, correct.astype(float).to_numpy()
    return runs, outcomes
