"""MMBench's score text: CircularEval Overall and L2 abilities, vanilla rates, the category table (or, on
TEST, where the answers are hidden, the counts and how to submit)."""

from __future__ import annotations

from typing import Any

from tabulate import tabulate

from awaker_eval.score.common import category_table, pct


def render(benchmark: str, metrics: dict[str, Any]) -> str:
    """A readable summary: headline numbers, then the breakdown tables."""
    if metrics.get("answers_hidden"):
        return (f"{benchmark}: answers hidden (MMBench TEST): {metrics['n_questions']} questions, "
                f"{metrics['n_rows']} rows; failed rows: {metrics['n_failed']}  unparsed passes: "
                f"{metrics['n_unparsed_passes']}  judge call failed: {metrics['n_judge_failed']}. Submit with "
                "`awaker-eval export-submission`.")
    head = [["Overall (CircularEval)", pct(metrics["overall"]), metrics["n_questions"]]]
    head += [[f"  {k}", pct(v), ""] for k, v in sorted(metrics["l2_category"].items())]
    head += [["vanilla (all rows)", pct(metrics["vanilla_all_rows"]), metrics["n_rows"]],
             ["vanilla (pass 0)", pct(metrics["vanilla_pass0"]), ""]]
    notes = (f"failed rows: {metrics['n_failed']}  unparsed passes: {metrics['n_unparsed_passes']}  "
             f"Z: {metrics['n_z']}  judge: {metrics['n_judge']}  "
             f"judge call failed: {metrics['n_judge_failed']}  "
             f"questions missing circular passes: {metrics['n_incomplete_questions']}")
    parts = [tabulate(head, headers=[benchmark, "acc %", "n"], disable_numparse=True), category_table(metrics), notes]
    return "\n\n".join(parts)
