"""Paired comparison of two runs on the same samples: the numbers behind the CI regression gate.

Both runs are scored into per-unit tables, matched by unit, and every printed aggregate gets both scores, the
difference with a paired clustered-bootstrap interval, McNemar's p-value and its flipped units. A drop *fails
the gate* only when it is larger than ``max_drop`` points and significant by both tests: the bootstrap
interval lies below zero (which respects image clustering) and McNemar's exact p < alpha (which guards small
groups where a bootstrap of a few flips is unreliable).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from awaker_eval.report.differences import describe_difference
from awaker_eval.report.groups import breakdown_masks
from awaker_eval.report.runs import Run
from awaker_eval.report.stats import bootstrap_means, mcnemar, paired_flips, percentile_interval

PROTOCOL_KEYS = ("name", "kind", "language", "version", "split", "protocol", "extractor", "min_pixels", "max_pixels")
GATE_LEVELS = {
    "split": ("overall", "split"),
    "subtask": ("overall", "split", "subtask", "l2_category"),
    "category": ("overall", "split", "subtask", "l2_category", "category"),
}


class MismatchError(ValueError):
    """The two runs are not comparable (different samples or protocol); the message says how."""


def protocol_differences(base: Run, new: Run) -> list[str]:
    """Benchmark settings that differ between the runs (config and prediction protocol fingerprints)."""
    diffs = []
    for key in PROTOCOL_KEYS:
        a, b = getattr(base.benchmark, key), getattr(new.benchmark, key)
        if a != b:
            diffs.append(f"benchmark.{key}: {a!r} vs {b!r}")
    fps_a = {p.protocol_fp for p in base.predictions()}
    fps_b = {p.protocol_fp for p in new.predictions()}
    if fps_a != fps_b:
        diffs.append(f"prediction protocol fingerprints: {sorted(fps_a)[:3]} vs {sorted(fps_b)[:3]}")
    return diffs


def sample_difference(base: Run, new: Run) -> str | None:
    """None when both runs hold the same sample ids, else a message counting and naming the differences."""
    ids_a = {p.id for p in base.predictions()}
    ids_b = {p.id for p in new.predictions()}
    if ids_a == ids_b:
        return None
    only_a, only_b = sorted(ids_a - ids_b), sorted(ids_b - ids_a)
    return (f"different sample sets: base {base.path} has {len(ids_a)}, new {new.path} has {len(ids_b)}; "
            f"{len(only_a)} only in base (e.g. {only_a[:3]}), {len(only_b)} only in new (e.g. {only_b[:3]})")


def common_units(base: Run, new: Run, allow_mismatch: bool = False) -> pd.DataFrame:
    """Units of both runs matched by unit id: the base table plus ``correct_base`` / ``correct_new``.

    Refuses different sample sets or protocols (``MismatchError``) unless ``allow_mismatch``; then only the
    samples present in both runs are scored.
    """
    problems = protocol_differences(base, new)
    sample_msg = sample_difference(base, new)
    if sample_msg:
        problems.append(sample_msg)
    if problems and not allow_mismatch:
        problems = describe_difference(base.config, new.config) + problems  # in words first, then the raw keys
        raise MismatchError("runs are not comparable:\n  " + "\n  ".join(problems)
                            + "\n(pass --allow-mismatch to compare the samples they share anyway)")
    if sample_msg:
        from awaker_eval.score import score_units

        shared = {p.id for p in base.predictions()} & {p.id for p in new.predictions()}
        units_a = score_units(base.kind, [p for p in base.predictions() if p.id in shared])
        units_b = score_units(new.kind, [p for p in new.predictions() if p.id in shared])
    else:
        units_a, units_b = base.units(), new.units()
    merged = units_a.merge(units_b[["unit", "correct"]], on="unit", how="inner", suffixes=("_base", "_new"))
    return merged.reset_index(drop=True)


@dataclass(frozen=True)
class GateResult:
    failed: pd.DataFrame  # gating rows that dropped more than max_drop with significance
    significant_drops: pd.DataFrame  # every row with a significant drop (for naming the culprit)


def compare_table(merged: pd.DataFrame, kind: str, n_boot: int = 1000, seed: int = 0,
                  alpha: float = 0.05) -> pd.DataFrame:
    """One row per aggregate: level, group, n, base, new, diff, lo, hi (fractions), p_mcnemar, broken, fixed."""
    base = merged["correct_base"].astype(float).to_numpy()
    new = merged["correct_new"].astype(float).to_numpy()
    masks = breakdown_masks(merged.rename(columns={"correct_base": "correct"}), kind)
    groups = {f"{level}\x1f{name}": mask for level, name, mask in masks}
    _, dists = bootstrap_means(new - base, merged["cluster"].to_numpy(), groups, n_boot=n_boot, seed=seed)
    broken, fixed = paired_flips(base, new)
    rows = []
    for level, name, mask in masks:
        lo, hi = percentile_interval(dists[f"{level}\x1f{name}"], alpha)
        test = mcnemar(int(broken[mask].sum()), int(fixed[mask].sum()))
        rows.append({
            "level": level, "group": name, "n": int(mask.sum()),
            "base": float(base[mask].mean()), "new": float(new[mask].mean()),
            "diff": float(new[mask].mean() - base[mask].mean()), "lo": lo, "hi": hi,
            "p_mcnemar": test.p_exact, "broken": test.b, "fixed": test.c,
        })
    return pd.DataFrame(rows)


def significant_drop(table: pd.DataFrame, alpha: float) -> pd.Series:
    return (table["diff"] < 0) & (table["hi"] < 0) & (table["p_mcnemar"] < alpha)


def gate(table: pd.DataFrame, max_drop: float, alpha: float = 0.05, level: str = "split") -> GateResult:
    """Rows at the gated levels whose drop exceeds ``max_drop`` points with significance."""
    sig = significant_drop(table, alpha)
    gated = table["level"].isin(GATE_LEVELS[level])
    failing = gated & sig & (-100 * table["diff"] > max_drop)
    return GateResult(table[failing], table[sig & (table["level"] != "overall")])


def flipped_units(merged: pd.DataFrame) -> pd.DataFrame:
    """Units whose correctness changed: ``change`` is ``broken`` (right -> wrong) or ``fixed``."""
    broken, fixed = paired_flips(merged["correct_base"].to_numpy(), merged["correct_new"].to_numpy())
    out = merged.loc[broken | fixed, ["unit", "cluster", "split", "subtask", "category", "l2_category"]].copy()
    out.insert(1, "change", np.where(broken[broken | fixed], "broken", "fixed"))
    return out.reset_index(drop=True)
