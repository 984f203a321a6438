"""Paired comparison of two runs on the same samples: the numbers behind the CI regression gate.

Both runs are scored into per-unit tables, matched by unit, and every printed aggregate gets both scores, the
difference with a paired clustered-bootstrap interval, McNemar's p-value and its flipped units. A drop *fails
the gate* only when it is larger than ``max_drop`` points and significant by both tests: the bootstrap
interval lies below zero (which respects image clustering) and McNemar's exact p < alpha (which guards small
groups where a bootstrap of a few flips is unreliable). A gated aggregate too small to detect a ``max_drop``-point
drop (``awaker_eval.report.power``) makes the verdict INCONCLUSIVE instead of PASSED: its own exit status.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from awaker_eval.report.differences import describe_difference
from awaker_eval.report.groups import breakdown_masks
from awaker_eval.report.power import detectable_drop, underpowered, units_needed
from awaker_eval.report.runs import Run
from awaker_eval.report.small_n import interval_text, paired_interval
from awaker_eval.score import score_units
from awaker_eval.report.stats import bootstrap_means, cluster_codes, mcnemar, paired_flips, percentile_interval
from awaker_eval.tasks.base import Benchmark

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
        shared = {p.id for p in base.predictions()} & {p.id for p in new.predictions()}
        units_a = score_units(base.bench, [p for p in base.predictions() if p.id in shared])
        units_b = score_units(new.bench, [p for p in new.predictions() if p.id in shared])
    else:
        units_a, units_b = base.units(), new.units()
    merged = units_a.merge(units_b[["unit", "correct"]], on="unit", how="inner", suffixes=("_base", "_new"))
    return merged.reset_index(drop=True)


EXIT_STATUS = {"PASSED": 0, "FAILED": 1, "INCONCLUSIVE": 3}  # 2: user error or runs not comparable
NAMED_BLIND = 6  # under-powered aggregates named in the verdict line


@dataclass(frozen=True)
class GateResult:
    failed: pd.DataFrame  # gating rows that dropped more than max_drop with significance
    significant_drops: pd.DataFrame  # every row with a significant drop (for naming the culprit)
    blind: pd.DataFrame  # gating rows that cannot detect a max_drop drop at their n (+ ``n_needed``)

    @property
    def verdict(self) -> str:
        """FAILED beats INCONCLUSIVE: a significant drop is real whatever the power of the other aggregates."""
        return "FAILED" if len(self.failed) else "INCONCLUSIVE" if len(self.blind) else "PASSED"

    @property
    def exit_status(self) -> int:
        return EXIT_STATUS[self.verdict]


def compare_table(merged: pd.DataFrame, bench: Benchmark, n_boot: int = 1000, seed: int = 0,
                  alpha: float = 0.05) -> pd.DataFrame:
    """One row per aggregate: level, group, n, clusters, base, new, diff, lo, hi (fractions; the interval shown,
    NaN with ``interval`` "n too small": ``small_n.paired_interval``), p_mcnemar, broken, fixed, detectable (the
    smallest drop, as a fraction, the gate could call significant here; inf: none), boot_lo, boot_hi (the
    percentile bootstrap interval the gate tests, whatever its n: McNemar guards the small groups)."""
    base = merged["correct_base"].astype(float).to_numpy()
    new = merged["correct_new"].astype(float).to_numpy()
    masks = breakdown_masks(merged.rename(columns={"correct_base": "correct"}), bench)
    groups = {f"{level}\x1f{name}": mask for level, name, mask in masks}
    _, dists = bootstrap_means(new - base, merged["cluster"].to_numpy(), groups, n_boot=n_boot, seed=seed)
    broken, fixed = paired_flips(base, new)
    codes, _ = cluster_codes(merged["cluster"].to_numpy())
    rows = []
    for level, name, mask in masks:
        dist = dists[f"{level}\x1f{name}"]
        boot_lo, boot_hi = percentile_interval(dist, alpha)
        test = mcnemar(int(broken[mask].sum()), int(fixed[mask].sum()))
        clusters = int(np.unique(codes[mask]).size)
        lo, hi, note = paired_interval(dist, float(broken[mask].mean()), float(fixed[mask].mean()), clusters, alpha)
        rows.append({
            "level": level, "group": name, "n": int(mask.sum()), "clusters": clusters,
            "base": float(base[mask].mean()), "new": float(new[mask].mean()),
            "diff": float(new[mask].mean() - base[mask].mean()), "lo": lo, "hi": hi, "interval": note,
            "p_mcnemar": test.p_exact, "broken": test.b, "fixed": test.c,
            "detectable": detectable_drop(int(mask.sum()), test.b, test.c, boot_lo, boot_hi, alpha),
            "boot_lo": boot_lo, "boot_hi": boot_hi,
        })
    return pd.DataFrame(rows)


def significant_drop(table: pd.DataFrame, alpha: float) -> pd.Series:
    return (table["diff"] < 0) & (table["boot_hi"] < 0) & (table["p_mcnemar"] < alpha)


def gate(table: pd.DataFrame, max_drop: float, alpha: float = 0.05, level: str = "split") -> GateResult:
    """Rows at the gated levels whose drop exceeds ``max_drop`` points with significance, and those too small
    to have seen such a drop (with the units they would need)."""
    sig = significant_drop(table, alpha)
    gated = table["level"].isin(GATE_LEVELS[level])
    failing = gated & sig & (-100 * table["diff"] > max_drop)
    blind_mask = gated & (100 * table["detectable"]).map(lambda d: underpowered(d, max_drop)).astype(bool)
    blind = table[blind_mask].copy()
    blind["n_needed"] = [units_needed(r.n, r.broken, r.fixed, r.boot_lo, r.boot_hi, alpha, max_drop)
                         for r in blind.itertuples()]
    return GateResult(table[failing], table[sig & (table["level"] != "overall")], blind)


def _blind_phrase(row, max_drop: float) -> str:
    """``Overall n=8 detects drops >= 75.00 pts only (about 600 units needed for 1.0 pts)``."""
    seen = (f"detects drops >= {100 * row.detectable:.2f} pts only" if np.isfinite(row.detectable)
            else "can detect no drop at all")
    if row.n_needed is not None and not pd.isna(row.n_needed):
        need = f"about {int(row.n_needed):,} units needed for {max_drop} pts"
    elif max_drop <= 0:
        need = "no n detects a drop of 0 pts"
    else:
        need = "more than 1,000,000,000 units needed"
    return f"{row.group} n={int(row.n)} {seen} ({need})"


def verdict_line(result: GateResult, max_drop: float, alpha: float, level: str) -> str:
    """The gate's one-line verdict, shared by ``compare`` and the HTML comparison page."""
    settings = f"(max drop {max_drop} pts, alpha {alpha})"
    if result.verdict == "FAILED":
        named = "; ".join(f"{r.group} {100 * r.diff:+.2f} pts (CI {interval_text(r.lo, r.hi, r.interval, True)}, "
                          f"McNemar p={r.p_mcnemar:.3g})" for r in result.failed.itertuples())
        return f"GATE FAILED {settings}: {named}"
    drops = "; ".join(f"{r.group} {100 * r.diff:+.2f}" for r in result.significant_drops.itertuples())
    elsewhere = f" Significant drops elsewhere: {drops}" if drops else ""
    if result.verdict == "INCONCLUSIVE":
        rows = list(result.blind.itertuples())
        named = "; ".join(_blind_phrase(r, max_drop) for r in rows[:NAMED_BLIND])
        more = f"; and {len(rows) - NAMED_BLIND} more" if len(rows) > NAMED_BLIND else ""
        return (f"GATE INCONCLUSIVE {settings}: too few units to detect a drop of {max_drop} pts: "
                f"{named}{more}.{elsewhere}")
    return (f"GATE PASSED: no {level}-level aggregate dropped by more than {max_drop} pts with significance."
            + elsewhere)


def flipped_units(merged: pd.DataFrame) -> pd.DataFrame:
    """Units whose correctness changed: ``change`` is ``broken`` (right -> wrong) or ``fixed``."""
    broken, fixed = paired_flips(merged["correct_base"].to_numpy(), merged["correct_new"].to_numpy())
    out = merged.loc[broken | fixed, ["unit", "cluster", "split", "subtask", "category", "l2_category"]].copy()
    out.insert(1, "change", np.where(broken[broken | fixed], "broken", "fixed"))
    return out.reset_index(drop=True)
