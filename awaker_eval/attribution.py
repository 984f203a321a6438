"""Explain the gap between two runs: which protocol knobs moved the score, by how much (Shapley values).

Why: "why is my number different" is answered by a few settings (prompt, extractor, resolution, decoding length,
generate vs choice); this attributes a measured difference B - A to exactly those that differ, with a paired
bootstrap interval per knob and the units each one flipped. Two runs that differ in anything else (model, data,
items) are refused: a knob would be blamed for what it did not do. ``explain_pair`` is what
``awaker-eval explain`` prints (``explain_cli``), computed in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from awaker_eval.explain_plan import Plan, make_plan
from awaker_eval.explain_runs import load_outcomes, materialize, model_difference
from awaker_eval.report.compare import sample_difference
from awaker_eval.report.groups import breakdown_masks
from awaker_eval.report.knobs import KNOB_NAMES, data_differences, differing_knobs
from awaker_eval.report.runs import Run
from awaker_eval.rundir import result_differences
from awaker_eval.report.shapley import (MAX_EXACT_KNOBS, ZERO, GroupAttribution, attribute_group, exact_masks,
                                        exact_shapley, path_masks, permutation_orders, sampled_shapley)

HEADLINE_LEVELS = ("overall", "split")  # the aggregates attributed: Overall and each headline split


@dataclass(frozen=True)
class Settings:
    """How the attribution is computed: bootstrap resamples, seed, level; ``permutations`` > 0 asks for a sampled
    Shapley estimate (any number of knobs) instead of the exact one (at most ``MAX_EXACT_KNOBS`` knobs)."""

    n_boot: int = 1000
    seed: int = 0
    alpha: float = 0.05
    permutations: int = 0


@dataclass(frozen=True)
class Explanation:
    """The attribution: ``groups[0]`` is Overall, then the headline splits; ``runs`` every configuration's run
    directory by mask (A first, B last)."""

    plan: Plan
    method: str
    groups: list[GroupAttribution]
    runs: dict[int, Run]
    flipped: dict[str, dict[str, list[str]]]  # knob -> {"fixed": unit ids, "broken": unit ids} (Overall)

    @property
    def overall(self) -> GroupAttribution:
        return self.groups[0]


def other_differences(a: Run, b: Run, knobs: tuple[str, ...] = KNOB_NAMES) -> list[str]:
    """What two runs differ in besides ``knobs``: the data and item settings, every other result setting both
    configs hold (``rundir.result_differences``: a model option such as ``model.choice_padding`` too, which the
    configurations between A and B would take from A alone), the samples scored and the weights."""
    problems = data_differences(a.config, b.config)
    problems += [f"{k} differs" for k in differing_knobs(a.config, b.config) if k not in knobs]
    shown = {p.split(":", 1)[0].removesuffix(" differs") for p in problems}
    problems += [d for d in result_differences(a.config, b.config, (*knobs, "model.name"))
                 if d.split(":", 1)[0] not in shown]
    return problems + [m for m in (sample_difference(a, b), model_difference(a, b)) if m]


def check_pair(a: Run, b: Run) -> list[str]:
    """The differing knobs of two runs that differ in nothing else; ``ValueError`` (one line) otherwise."""
    problems = other_differences(a, b)
    if problems:
        raise ValueError("runs differ in more than the protocol knobs (model, data or items), nothing to attribute: "
                         + "; ".join(problems))
    knobs = differing_knobs(a.config, b.config)
    if not knobs:
        raise ValueError(f"{a.path} and {b.path} differ in no protocol knob: nothing to attribute")
    return knobs


def plan_pair(a: Run, b: Run, settings: Settings) -> tuple[Plan, list[tuple[int, ...]] | None]:
    """The plan of configurations (and the sampled orders, when sampling); refuses too many knobs for exact."""
    knobs = check_pair(a, b)
    if settings.permutations > 0:
        orders = permutation_orders(len(knobs), settings.permutations, settings.seed)
        return make_plan(a, b, knobs, path_masks(orders)), orders
    if len(knobs) > MAX_EXACT_KNOBS:
        raise ValueError(f"the runs differ in {len(knobs)} knobs ({', '.join(knobs)}): an exact attribution needs "
                         f"2^{len(knobs)} = {2 ** len(knobs)} configurations (at most {MAX_EXACT_KNOBS} knobs); "
                         "pass --permutations N (and --seed S) for a sampled estimate")
    return make_plan(a, b, knobs, exact_masks(len(knobs))), None


def explain_pair(a: Run, b: Run, benchmarks: Mapping, settings: Settings = Settings()) -> Explanation:
    """Run what is missing, then attribute Overall and each headline split to the differing knobs."""
    plan, orders = plan_pair(a, b, settings)
    materialize(plan, benchmarks)
    runs, outcomes = load_outcomes(plan, benchmarks)
    k = len(plan.knobs)
    phi = exact_shapley(outcomes, k) if orders is None else sampled_shapley(outcomes, orders, k)
    units = a.units()
    clusters = (units["cluster"] if "cluster" in units.columns else units["unit"]).to_numpy()
    full = (1 << k) - 1
    groups = [attribute_group(name, np.asarray(mask, bool), phi, outcomes[0], outcomes[full], plan.knobs, clusters,
                              settings.n_boot, settings.seed, settings.alpha)
              for level, name, mask in breakdown_masks(units, a.bench) if level in HEADLINE_LEVELS]
    method = "exact" if orders is None else f"sampled ({len(orders)} permutations, seed {settings.seed})"
    return Explanation(plan, method, groups, runs, flipped_units(phi, units["unit"].tolist(), plan.knobs))


def flipped_units(phi: np.ndarray, unit_ids: list[str], knobs: list[str]) -> dict[str, dict[str, list[str]]]:
    """Per knob, the units it made right (fixed) or wrong (broken) on balance: the sign of its Shapley share."""
    ids = np.asarray(unit_ids, dtype=object)
    return {k: {"fixed": ids[phi[i] > ZERO].tolist(), "broken": ids[phi[i] < -ZERO].tolist()}
            for i, k in enumerate(knobs)}


def as_json(expl: Explanation) -> dict:
    """``{"total", "contributions", "intervals", "runs"}`` in points (Overall), plus each split, the flips, the
    knob values and the method."""
    pts = 100.0
    overall = expl.overall
    splits = {g.name: {"total": pts * g.total, "contributions": {k: pts * v for k, v in g.contributions.items()},
                       "intervals": {k: [pts * lo, pts * hi] for k, (lo, hi) in g.intervals.items()}}
              for g in expl.groups[1:]}
    values = {k: [expl.plan.slots[0].config.values[k], expl.plan.slots[max(expl.plan.slots)].config.values[k]]
              for k in expl.plan.knobs}
    return {
        "total": pts * overall.total,
        "contributions": {k: pts * v for k, v in overall.contributions.items()},
        "intervals": {k: [pts * lo, pts * hi] for k, (lo, hi) in overall.intervals.items()},
        "runs": [str(expl.runs[m].path) for m in sorted(expl.runs)],
        "total_interval": [pts * v for v in overall.total_interval],
        "flips": {k: {"fixed": overall.fixed[k], "broken": overall.broken[k]} for k in expl.plan.knobs},
        "knobs": values, "splits": splits, "method": expl.method, "units": overall.n,
        "scores": {"A": pts * overall.score_a, "B": pts * overall.score_b},
    }
