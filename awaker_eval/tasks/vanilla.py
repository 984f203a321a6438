"""Vanilla accuracy, the default scorer of the ``Benchmark`` contract: one unit per prediction, hit = the
extracted letter equals the answer (``Z``, nothing extracted and a failed sample are misses), Overall plus the
mean hit per sorted group of each level the predictions have values for (VLMEvalKit's MCQ ``report_acc``)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from tabulate import tabulate

from awaker_eval.score.common import UNIT_COLUMNS, is_correct, is_failed, mean_or_zero, pct, scored_letter, unique_ids
from awaker_eval.types import Prediction


def vanilla_units(predictions: list[Prediction], kind: str) -> pd.DataFrame:
    """The per-unit table; a prediction without a ground-truth answer cannot be scored (named)."""
    rows = []
    for p in predictions:
        if not p.answer:
            raise ValueError(f"prediction {p.id!r}: no ground-truth answer, cannot score")
        rows.append((p.id, str(p.cluster or p.id), float(is_correct(p)), "all", None, p.category, p.l2_category,
                     is_failed(p), 1))
    if not rows:
        raise ValueError(f"no {kind} predictions to score")
    units = pd.DataFrame(rows, columns=UNIT_COLUMNS)
    unique_ids(units["unit"])
    return units


def group_means(units: pd.DataFrame, key: str) -> dict[str, float]:
    """Mean hit per sorted non-missing value of ``key`` ({} when no unit has one)."""
    if key not in units.columns:
        return {}
    present = units[units[key].notna()]
    return {str(k): float(v) for k, v in present.groupby(present[key].astype(str))["correct"].mean().items()}


def vanilla_metrics(predictions: list[Prediction], units: pd.DataFrame, level_keys: list[str]) -> dict[str, Any]:
    """Overall and the per-level mappings (a level appears only when the data has it), plus parse counts."""
    letters = [scored_letter(p) for p in predictions]
    failed = [is_failed(p) for p in predictions]
    out: dict[str, Any] = {
        "overall": mean_or_zero(units["correct"]),
        "n": int(len(units)),
        "n_correct": int(units["correct"].sum()),
    }
    for key in level_keys:
        means = group_means(units, key)
        if means:
            out[key] = means
    out.update({
        "n_failed": int(sum(failed)),
        "n_unparsed": int(sum(not x and not f for x, f in zip(letters, failed))),
        "n_z": int(sum(x == "Z" for x in letters)),
        "n_judge": int(sum(p.extract_method == "judge" for p in predictions)),
    })
    return out


def render_vanilla(name: str, metrics: dict[str, Any], levels: list[tuple[str, str]]) -> str:
    """Overall, then one table per level present, then the parse counts."""
    parts = [tabulate([["Overall (vanilla accuracy)", pct(metrics["overall"]), metrics["n"]]],
                      headers=[name, "acc %", "items"], disable_numparse=True)]
    for key, label in levels:
        if isinstance(metrics.get(key), dict):
            parts.append(tabulate([[k, pct(v)] for k, v in metrics[key].items()], headers=[label, "acc %"],
                                  disable_numparse=True))
    parts.append(f"failed: {metrics['n_failed']}  unparsed: {metrics['n_unparsed']}  Z: {metrics['n_z']}  "
                 f"judge: {metrics['n_judge']}")
    return "\n\n".join(parts)
