"""MMBench's foreign prediction files: VLMEvalKit result tables (one row per circular pass)."""

from __future__ import annotations

from pathlib import Path

from awaker_eval.data.options import choices_from_columns
from awaker_eval.score import readers
from awaker_eval.score.readers import _external, table_text
from awaker_eval.tasks.mmbench.loader import CIRCULAR_BASE
from awaker_eval.types import Prediction, choice_rows

KIND = "mmbench"


def read_predictions(path: str | Path) -> list[Prediction]:
    """Our ``.jsonl`` or a VLMEvalKit table; an MME-RealWorld submission ``.json`` is refused."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".json":
        raise ValueError(f"{path}: a .json submission is the MME-RealWorld format, not {KIND}")
    return readers.read_predictions(path, KIND, _mmbench_table_row)


def _mmbench_table_row(rec: dict, pid: str, source: str, row: object) -> Prediction:
    index = int(rec["index"])
    group = str(index % CIRCULAR_BASE)
    extra = {"index": index, "hint": table_text(rec.get("hint")), "split": table_text(rec.get("split"))}
    return _external(pid, "mmbench", "vlmevalkit_table", raw_output=str(rec["prediction"]),
                     answer=table_text(rec.get("answer")), category=table_text(rec.get("category")),
                     l2_category=table_text(rec.get("l2-category")), group=group, cluster=group,
                     question=table_text(rec.get("question")),
                     choices=choice_rows(choices_from_columns(rec, source, row)), extra=extra)
