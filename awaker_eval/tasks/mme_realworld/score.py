"""MME-RealWorld(-CN) scoring, as the official scorer aggregates (spec ``benchmarks.md`` §1.5).

Perception / Reasoning / Overall are pooled accuracies (sum correct / sum items), never means of means.
A failed sample is wrong and stays in the denominator; ``""`` (nothing extracted) is wrong.
"""

from __future__ import annotations

from typing import Any, Iterable

import pandas as pd

from awaker_eval.data.taxonomy import MME_SUBTASKS, MME_TASKS, fine_category
from awaker_eval.score.common import (
    UNIT_COLUMNS,
    is_correct,
    is_failed,
    mean_or_zero,
    scored_letter,
    unique_ids,
)
from awaker_eval.types import Prediction

# Subtasks listed per task in the breakdown, as the official scorer prints them (no Reasoning/Remote Sensing).
MME_TASK_SUBTASKS: dict[str, tuple[str, ...]] = {
    "Perception": MME_SUBTASKS,
    "Reasoning": tuple(s for s in MME_SUBTASKS if s != "Remote Sensing"),
}


def item_frame(predictions: Iterable[Prediction]) -> pd.DataFrame:
    """One validated row per item: id, cluster, task, subtask, category, extracted, failed, correct."""
    cols: dict[str, list] = {k: [] for k in ("id", "cluster", "task", "subtask", "category", "extracted", "failed",
                                              "correct")}
    categories: dict[str | None, str] = {}  # few distinct raw values: normalise each once
    for p in predictions:
        if p.task not in MME_TASKS:
            raise ValueError(f"prediction {p.id!r}: unknown Task {p.task!r} (expected one of {MME_TASKS})")
        if p.subtask not in MME_SUBTASKS:
            raise ValueError(f"prediction {p.id!r}: unknown Subtask {p.subtask!r} (expected one of {MME_SUBTASKS})")
        if not p.answer:
            raise ValueError(f"prediction {p.id!r}: no ground-truth answer, cannot score")
        if p.category not in categories:
            categories[p.category] = fine_category(p.category)
        failed = is_failed(p)
        extracted = scored_letter(p)
        for key, value in (("id", p.id), ("cluster", p.cluster or p.id), ("task", p.task), ("subtask", p.subtask),
                           ("category", categories[p.category]), ("extracted", extracted), ("failed", failed),
                           ("correct", float(is_correct(p)))):
            cols[key].append(value)
    frame = pd.DataFrame(cols)
    unique_ids(frame["id"])
    return frame


def units(frame: pd.DataFrame) -> pd.DataFrame:
    """The per-unit table (one unit per item)."""
    out = pd.DataFrame({
        "unit": frame["id"].astype(str),
        "cluster": frame["cluster"].astype(str),
        "correct": frame["correct"],
        "split": frame["task"],
        "subtask": frame["subtask"],
        "category": frame["category"],
        "l2_category": None,
        "failed": frame["failed"].astype(bool),
        "n_rows": 1,
    })
    return out[UNIT_COLUMNS]


def metrics(frame: pd.DataFrame) -> dict[str, Any]:
    """Official aggregation plus the breakdowns; every accuracy an unrounded fraction."""
    is_e = frame["extracted"] == "E"
    by_task = frame.groupby("task")["correct"].agg(["sum", "count"])
    by_sub = frame.groupby("subtask")["correct"].mean()
    by_cat = frame.groupby("category")["correct"].mean()
    by_task_sub = frame.assign(is_e=is_e).groupby(["task", "subtask"]).agg(
        acc=("correct", "mean"), n=("correct", "size"), correct=("correct", "sum"), e=("is_e", "sum"))
    by_task_sub_cat = frame.groupby(["task", "subtask", "category"])["correct"].mean()
    cats: dict[tuple[str, str], dict[str, float]] = {}
    for (task, sub, cat), acc in by_task_sub_cat.items():
        cats.setdefault((task, sub), {})[cat] = float(acc)

    subtask_by_task: dict[str, dict[str, Any]] = {}
    avg_c: dict[str, float] = {}
    for task in MME_TASKS:
        entries = {}
        for sub in MME_TASK_SUBTASKS[task]:
            if (task, sub) in by_task_sub.index:
                r = by_task_sub.loc[(task, sub)]
                entries[sub] = {"acc": float(r["acc"]), "n": int(r["n"]), "correct": int(r["correct"]),
                                "e_count": int(r["e"]), "categories": cats.get((task, sub), {})}
            else:
                entries[sub] = {"acc": 0.0, "n": 0, "correct": 0, "e_count": 0, "categories": {}}
        subtask_by_task[task] = entries
        accs = [e["acc"] for e in entries.values() if e["n"]]
        avg_c[task] = sum(accs) / len(accs) if accs else 0.0

    def task_acc(task: str) -> float:
        return float(by_task.loc[task, "sum"] / by_task.loc[task, "count"]) if task in by_task.index else 0.0

    def task_n(task: str) -> int:
        return int(by_task.loc[task, "count"]) if task in by_task.index else 0

    return {
        "overall": mean_or_zero(frame["correct"]),
        "perception": task_acc("Perception"),
        "reasoning": task_acc("Reasoning"),
        "n": int(len(frame)),
        "n_perception": task_n("Perception"),
        "n_reasoning": task_n("Reasoning"),
        "n_correct": int(frame["correct"].sum()),
        "subtask": {sub: float(by_sub.get(sub, 0.0)) for sub in MME_SUBTASKS},
        "category": {str(k): float(v) for k, v in by_cat.items()},
        "subtask_by_task": subtask_by_task,
        "e_count": {task: int(is_e[frame["task"] == task].sum()) for task in MME_TASKS},
        "n_failed": int(frame["failed"].sum()),
        "n_failed_by_task": {task: int(frame.loc[frame["task"] == task, "failed"].sum()) for task in MME_TASKS},
        "n_unparsed": int(((frame["extracted"] == "") & ~frame["failed"]).sum()),
        "avg_c": avg_c,
    }
