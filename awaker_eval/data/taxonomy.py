"""Benchmark taxonomies: MME-RealWorld tasks / subtasks / fine categories and MMBench ability levels.

Loaders validate against these tables (the official scorer crashes on unknown values, so we refuse them
up front); scorers import ``fine_category`` and ``l2_abbreviation`` for their breakdowns.
"""

from __future__ import annotations

MME_TASKS = ("Perception", "Reasoning")
MME_SUBTASKS = (
    "Monitoring",
    "OCR with Complex Context",
    "Diagram and Table",
    "Autonomous_Driving",
    "Remote Sensing",
)

# MMBench ``l2-category`` value -> leaderboard abbreviation (benchmarks.md section 3.1).
MMBENCH_L2_ABBREV = {
    "coarse_perception": "CP",
    "finegrained_perception (instance-level)": "FP-S",
    "finegrained_perception (cross-instance)": "FP-C",
    "attribute_reasoning": "AR",
    "relation_reasoning": "RR",
    "logic_reasoning": "LR",
}


def _key(name: str) -> str:
    return " ".join(name.replace("_", " ").split()).lower()


_TASK_BY_KEY = {_key(t): t for t in MME_TASKS}
_SUBTASK_BY_KEY = {_key(s): s for s in MME_SUBTASKS}


def canonical_task(raw: object) -> str | None:
    """``"Perception"`` / ``"Reasoning"`` for any casing, else None (caller reports the row)."""
    return _TASK_BY_KEY.get(_key(raw)) if isinstance(raw, str) else None


def canonical_subtask(raw: object) -> str | None:
    """One of the five official subtask spellings (case / ``_`` vs space tolerant), else None."""
    return _SUBTASK_BY_KEY.get(_key(raw)) if isinstance(raw, str) else None


def fine_category(raw: str | None) -> str:
    """The official scorer's fine-category key: lower-cased; any ``attribute`` category collapses to
    ``<first '/'-component>/attribute`` (``vehicle/attribute/color`` -> ``vehicle/attribute``,
    ``Attribute_Motion_Vehicle`` -> ``attribute_motion_vehicle/attribute``)."""
    key = (raw or "").lower()
    if "attribute" in key:
        key = key.split("/")[0] + "/attribute"
    return key


def l2_abbreviation(l2_category: str | None) -> str | None:
    """MMBench ability abbreviation (CP, FP-S, FP-C, AR, RR, LR) of an ``l2-category`` value, else None."""
    if l2_category is None:
        return None
    return MMBENCH_L2_ABBREV.get(l2_category.strip().lower())
