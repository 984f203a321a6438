"""MME-RealWorld's score text: Overall / Perception / Reasoning, the subtask table, the category table."""

from __future__ import annotations

from typing import Any

from tabulate import tabulate

from awaker_eval.score.common import category_table, pct


def render(benchmark: str, metrics: dict[str, Any]) -> str:
    """A readable summary: headline numbers, then the breakdown tables."""
    head = [["Overall", pct(metrics["overall"], metrics["n"]), metrics["n"]],
            ["Perception", pct(metrics["perception"], metrics["n_perception"]), metrics["n_perception"]],
            ["Reasoning", pct(metrics["reasoning"], metrics["n_reasoning"]), metrics["n_reasoning"]]]
    subs = [[task, sub, pct(e["acc"], e["n"]), e["n"], e["e_count"]]
            for task, entries in metrics["subtask_by_task"].items() for sub, e in entries.items()]
    notes = (f"failed: {metrics['n_failed']}  unparsed: {metrics['n_unparsed']}  "
             f"E answers: {metrics['e_count']}")
    parts = [tabulate(head, headers=[benchmark, "acc %", "items"], disable_numparse=True),
             tabulate(subs, headers=["task", "subtask", "acc %", "items", "E"], disable_numparse=True),
             category_table(metrics), notes]
    return "\n\n".join(parts)
