"""Which configurations an attribution needs and where each one's run directory is (or will be).

Why a plan first: ``--dry-run`` must say what a run would cost before anything is computed, and a rerun must find
every directory an interrupted one made. Each configuration is a normal run directory next to run A: one already
there with the same result settings (a sweep job, an earlier ``explain``) is used as it is; otherwise it is named
``explain-<hash of its settings>``, so the same command finds it again. Configurations that differ only in the
answer extractor share one inference: one of them is run (or is already stored), the others re-extract its raw
outputs.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from pathlib import Path

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from awaker_eval.config.schema import RunConfig
from awaker_eval.report.knobs import Configuration, configuration, inference_key, knob_values
from awaker_eval.report.runs import SCORES_FILE, Run
from awaker_eval.rundir import (CONFIG_FILE, RunDirMismatch, check_same_results, default_run_id, read_config,
                                settings_diff)

GIVEN, STORED, RESUME, INFERENCE, REEXTRACT = "given", "stored", "resume", "inference", "re-extract"
NEEDS_MODEL = (RESUME, INFERENCE)


@dataclass
class Slot:
    """One configuration: its settings, run directory, and how it is obtained (``status``; ``source``: the
    configuration whose raw outputs a re-extraction reads)."""

    config: Configuration
    label: str
    run_dir: Path
    status: str
    cfg: RunConfig | None = None
    source: int | None = None


@dataclass
class Plan:
    """The configurations between A and B (by mask) and the differing knobs, in bit order."""

    a: Run
    b: Run
    knobs: list[str]
    slots: dict[int, Slot] = field(default_factory=dict)

    def count(self, *statuses: str) -> int:
        return sum(slot.status in statuses for slot in self.slots.values())


def run_config(base: dict, config: Configuration, run_dir: Path, origin: Path) -> RunConfig:
    """The typed settings of one configuration: run A's saved settings (``base``, read from ``origin``) with the
    configuration's knob values, written to ``run_dir``; a preset label is dropped (a preset is its knobs, and
    these mix two runs' knobs)."""
    data = copy.deepcopy(base)
    for knob, value in config.values.items():
        section, key = knob.split(".", 1)
        data.setdefault(section, {})[key] = value
    data.update(preset=None, output_dir=str(run_dir), run_id=None)
    data.setdefault("runner", {})["progress"] = False
    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(RunConfig), data))
    except OmegaConfBaseException as exc:
        raise ValueError(f"{origin / CONFIG_FILE}: cannot be read as run settings "
                         f"({str(exc).splitlines()[0]})") from None


def _siblings(plan: Plan) -> list[tuple[Path, dict]]:
    """Run directories beside A and B (where a configuration may already be stored), with their knob values."""
    parents = dict.fromkeys([plan.a.path.parent, plan.b.path.parent])
    found = [p for parent in parents for p in sorted(parent.iterdir()) if (p / CONFIG_FILE).is_file()]
    corners = (plan.a.path.resolve(), plan.b.path.resolve())
    return [(p, knob_values(read_config(p) or {})) for p in found if p.resolve() not in corners]


def _same_settings(run_dir: Path, cfg: RunConfig) -> bool:
    """Whether ``run_dir`` was made with exactly these result settings (the check a run into it would make)."""
    try:
        check_same_results(run_dir, settings_diff(run_dir, cfg))
    except RunDirMismatch:
        return False
    return True


def locate(plan: Plan, config: Configuration, siblings: list[tuple[Path, dict]]) -> Slot:
    """The slot of one configuration between the corners: a stored directory with its settings (complete ones
    first), else its own ``explain-<hash>`` directory next to A. Only siblings with the configuration's knob
    values are read in full."""
    label = config.label(plan.knobs)
    probe = run_config(plan.a.config, config, plan.a.path.parent / "explain-probe", plan.a.path)
    knobs = knob_values(asdict(probe))
    matches = sorted((p for p, values in siblings if values == knobs and _same_settings(p, probe)),
                     key=lambda p: (not (p / SCORES_FILE).is_file(), str(p)))
    run_dir = matches[0] if matches else plan.a.path.parent / f"explain-{default_run_id(probe)[len('run-'):]}"
    cfg = run_config(plan.a.config, config, run_dir, plan.a.path)
    status = STORED if (run_dir / SCORES_FILE).is_file() else RESUME if run_dir.is_dir() else INFERENCE
    return Slot(config, label, run_dir, status, cfg)


def _assign_sources(plan: Plan) -> None:
    """Within each group of configurations that differ only in the extractor, one inference at most: members
    without results re-extract from a member that has them (given, stored, or the one run for the group)."""
    groups: dict[int, list[int]] = {}
    for mask, slot in plan.slots.items():
        groups.setdefault(inference_key(slot.config, plan.knobs), []).append(mask)
    for members in groups.values():
        done = [m for m in members if plan.slots[m].status in (GIVEN, STORED)]
        resumable = [m for m in members if plan.slots[m].status == RESUME]
        source = (done or resumable or sorted(members))[0]
        for mask in members:
            slot = plan.slots[mask]
            if mask != source and slot.status not in (GIVEN, STORED):
                slot.status, slot.source = REEXTRACT, source


def make_plan(a: Run, b: Run, knobs: list[str], masks: list[int]) -> Plan:
    """Every configuration ``masks`` names, located; A is mask 0 and B has every bit set."""
    plan = Plan(a, b, knobs)
    full = (1 << len(knobs)) - 1
    siblings = _siblings(plan)
    for mask in masks:
        config = configuration(mask, knobs, a.config, b.config)
        if mask in (0, full):
            run = a if mask == 0 else b
            plan.slots[mask] = Slot(config, config.label(knobs), run.path, GIVEN)
        else:
            plan.slots[mask] = locate(plan, config, siblings)
    _assign_sources(plan)
    return plan
