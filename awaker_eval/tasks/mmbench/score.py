"""MMBench(-CN) CircularEval scoring (spec ``benchmarks.md`` §3.5) and the seed table's Overall.

A question (group of circular passes, ``index mod 1,000,000``) is a hit only when every pass's extracted
letter equals that pass's answer. ``Z``, an unparsed pass (exact-matching mode) and a failed sample are all
misses. In judge mode the judge's letters are already in ``Prediction.extracted``, so one rule serves both.
"""

from __future__ import annotations

from typing import Any, Iterable

import pandas as pd

from awaker_eval.tasks.mmbench.loader import CIRCULAR_BASE
from awaker_eval.data.taxonomy import l2_abbreviation
from awaker_eval.extract.dispatch import JUDGE_FAILED
from awaker_eval.score.common import (
    UNIT_COLUMNS,
    is_correct,
    is_failed,
    mean_or_zero,
    scored_letter,
    unique_ids,
)
from awaker_eval.types import Prediction


def row_index(p: Prediction) -> int | None:
    """The TSV ``index`` of the row: ``extra["index"]``, else a numeric id."""
    value = p.extra.get("index") if p.extra else None
    if value is None:
        value = p.id
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def row_frame(predictions: Iterable[Prediction], require_answers: bool = True) -> pd.DataFrame:
    """One validated row per circular pass: id, group, pass0, category, l2, extracted, method, failed, correct."""
    rows = []
    for p in predictions:
        if require_answers and not p.answer:
            raise ValueError(f"prediction {p.id!r}: no ground-truth answer (MMBench TEST hides them: use "
                             "`awaker-eval export-submission` and the MMBench server)")
        index = row_index(p)
        group = p.group if p.group is not None else (str(index % CIRCULAR_BASE) if index is not None else None)
        if group is None:
            raise ValueError(f"prediction {p.id!r}: no circular group (set Prediction.group or a numeric index)")
        failed = is_failed(p)
        extracted = scored_letter(p)
        l2 = l2_abbreviation(p.l2_category) or (p.l2_category or "")  # unknown values stay visible
        rows.append((p.id, str(group), index, p.category or "", l2, extracted, p.extract_method, failed,
                     float(is_correct(p)), len(p.choices)))
    frame = pd.DataFrame(rows, columns=["id", "group", "index", "category", "l2_category", "extracted", "method",
                                        "failed", "correct", "n_options"])
    unique_ids(frame["id"])
    first_in_group = ~frame["group"].duplicated()
    known = frame["index"].notna()
    # pass 0 is the row with index < 1,000,000; without an index, the first row of its group.
    frame["pass0"] = (known & (frame["index"].fillna(0) < CIRCULAR_BASE)) | (~known & first_in_group)
    return frame


def incomplete_groups(frame: pd.DataFrame) -> list[str]:
    """Questions whose number of passes differs from their number of options (N passes for N options):
    their CircularEval hit rests on a subset of the rotations. Rows without stored options are not judged."""
    stats = frame.groupby("group", sort=False).agg(rows=("id", "size"), options=("n_options", "max"))
    return stats.index[(stats["options"] > 0) & (stats["rows"] != stats["options"])].tolist()


def units(frame: pd.DataFrame) -> pd.DataFrame:
    """The per-unit table: one CircularEval question per row."""
    grouped = frame.groupby("group", sort=False)
    out = grouped.agg(
        correct=("correct", "min"),
        failed=("failed", "any"),
        n_rows=("correct", "size"),
        category=("category", "first"),
        l2_category=("l2_category", "first"),
    ).reset_index()
    out["unit"] = out["group"].astype(str)
    out["cluster"] = out["unit"]
    out["split"] = "all"
    out["subtask"] = out["l2_category"]
    out["failed"] = out["failed"].astype(bool)
    out["correct"] = out["correct"].astype(float)
    return out[UNIT_COLUMNS]


def metrics(frame: pd.DataFrame) -> dict[str, Any]:
    """CircularEval overall / per L2 / per L3 category, plus the vanilla diagnostics and parse counts."""
    table = units(frame)
    return {
        "overall": mean_or_zero(table["correct"]),
        "n_questions": int(len(table)),
        "n_rows": int(len(frame)),
        "n_correct": int(table["correct"].sum()),
        "l2_category": {str(k): float(v) for k, v in table.groupby("l2_category")["correct"].mean().items()},
        "category": {str(k): float(v) for k, v in table.groupby("category")["correct"].mean().items()},
        "vanilla_all_rows": mean_or_zero(frame["correct"]),
        "vanilla_pass0": mean_or_zero(frame.loc[frame["pass0"], "correct"]),
        **pass_counts(frame),
    }


def pass_counts(frame: pd.DataFrame) -> dict[str, int]:
    """How the passes were read (unparsed, Z, judge, failed judge calls, failed samples) and the questions
    missing a circular pass: reported with and without answers."""
    return {
        "n_unparsed_passes": int(((frame["extracted"] == "") & ~frame["failed"]).sum()),
        "n_z": int((frame["extracted"] == "Z").sum()),
        "n_judge": int((frame["method"] == "judge").sum()),
        "n_judge_failed": int((frame["method"] == JUDGE_FAILED).sum()),
        "n_failed": int(frame["failed"].sum()),
        "n_incomplete_questions": len(incomplete_groups(frame)),
    }


def hidden_metrics(predictions: list[Prediction]) -> dict[str, Any]:
    """MMBench TEST (every answer hidden): no accuracy, only the counts a submission should be checked by."""
    if any(p.answer for p in predictions):
        raise ValueError("some predictions have answers and some do not: score dev and test runs separately")
    frame = row_frame(predictions, require_answers=False)
    return {
        "answers_hidden": True,
        "overall": None,
        "n_questions": int(frame["group"].nunique()),
        "n_rows": int(len(frame)),
        "l2_category": {},
        "category": {},
        **pass_counts(frame),
    }


def seed_overall(v11: float | None, v10: float | None) -> float:
    """The seed table's MMBench "Overall": mean(v1.1, v1.0); v1.1 alone when v1.0 is missing ("-")."""
    if v11 is None:
        raise ValueError("MMBench Overall needs the v1.1 score")
    return v11 if v10 is None else (v11 + v10) / 2
