"""Odd rows that the reference toolkits accept: loaded the way upstream loads them, counted by kind with their
row ids (``data_warnings`` in run.json, scores.json and the report), or refused under ``benchmark.strict``.

Rows that no upstream toolkit accepts never come here: they stay a ``DataError`` naming file and row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from awaker_eval.data.errors import row_error

# kind -> what upstream does with such a row (benchmarks.md section 9); the text goes into run.json and the report.
WARNING_KINDS: dict[str, str] = {
    "duplicated_option_text": "two options with the same text: the prompt lists both (VLMEvalKit, official "
                              "prompt); text matching of the answer becomes ambiguous",
    "duplicated_option_letter": "two options with the same letter (e.g. a second '(D)'): the official prompt "
                                "lists every option string as given",
    "na_option_dropped": "an option cell pandas reads as NaN ('None', 'N/A', 'NA', 'null', ...): VLMEvalKit drops "
                         "it from the prompt and the choices",
    "answer_on_na_option": "the answer is on an option cell pandas reads as NaN: VLMEvalKit drops the option, so "
                           "the item can never be right (it stays in the denominator)",
    "option_ends_with_newline": "an option string ending in a newline: the prompt is built with it, as upstream",
    "empty_option": "an empty-string option: lmms-eval drops it from its options block; the other prompts list it",
    "answer_with_whitespace": "an answer cell with whitespace around the letter (' B '): VLMEvalKit compares the "
                              "raw cell with the extracted letter, so upstream never counts the item right; it is "
                              "scored here against the trimmed letter",
    "incomplete_circular_question": "an MMBench question without one circular pass per option: CircularEval "
                                    "scores it on the passes present",
}
MAX_LISTED_IDS = 1000  # ids written per kind; the count is always exact


@dataclass
class DataWarnings:
    """Collector of accepted oddities for one load; ``strict`` turns the first one into a ``DataError``."""

    strict: bool = False
    rows: dict[str, list[str]] = field(default_factory=dict)

    def note(self, kind: str, where: str, row: object, item_id: str, detail: str) -> None:
        """Record ``item_id`` under ``kind`` (one of ``WARNING_KINDS``), or raise naming file and row when strict."""
        if kind not in WARNING_KINDS:
            raise KeyError(f"unknown data warning kind {kind!r}")
        if self.strict:
            raise row_error(where, row, f"{detail} [{kind}; upstream accepts this row, benchmark.strict=true "
                                        "refuses it]")
        ids = self.rows.setdefault(kind, [])
        if item_id not in ids[-1:]:  # one row may show the same oddity twice (two duplicated texts)
            ids.append(item_id)

    def for_row(self, where: str, row: object, item_id: str):
        """The ``Oddity`` callback ``(kind, detail)`` for one row, as the option parsers take it."""
        return lambda kind, detail: self.note(kind, where, row, item_id, detail)

    def restricted(self, ids: set[str]) -> DataWarnings:
        """The warnings of the rows (or circular questions) in ``ids`` only: a ``limit`` run reports its own."""
        kept = {kind: [i for i in found if i in ids] for kind, found in self.rows.items()}
        return DataWarnings(self.strict, {kind: found for kind, found in kept.items() if found})

    @property
    def total(self) -> int:
        return sum(len(ids) for ids in self.rows.values())

    def as_dict(self) -> dict[str, Any]:
        """``{kind: {"count", "ids", "upstream"}}`` for run.json / scores.json (empty dict when clean)."""
        return {kind: {"count": len(ids), "ids": ids[:MAX_LISTED_IDS], "upstream": WARNING_KINDS[kind]}
                for kind, ids in sorted(self.rows.items())}


def summary_lines(data_warnings: dict[str, Any] | None) -> list[str]:
    """One printable line per kind of a ``DataWarnings.as_dict()`` (as stored in run.json / scores.json), e.g.
    ``data warning: duplicated_option_text x2 (ids 7, 9): two options with the same text: ...``."""
    lines = []
    for kind, entry in sorted((data_warnings or {}).items()):
        ids = [str(i) for i in entry.get("ids", [])]
        shown = ", ".join(ids[:5]) + (", ..." if entry["count"] > 5 else "")
        lines.append(f"data warning: {kind} x{entry['count']} (ids {shown}): {entry.get('upstream', '')}")
    return lines
