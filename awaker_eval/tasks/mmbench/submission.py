"""``awaker-eval export-submission RUN_DIR``: the MMBench test-server file of a run.

MMBench TEST answers are hidden, so the server scores the raw predictions itself. We write every circular
row (never dropping one) with its ``prediction`` as VLMEvalKit does: ``<model>_<dataset>.xlsx`` with columns
index, question, hint, A.., prediction, category, l2-category, split (+ answer / source / comment when known).

Fields read from each ``Prediction``: ``question``, ``choices``, ``category``, ``l2_category`` (raw TSV value),
``raw_output``, ``answer``, and ``extra["index"]`` (TSV index; else a numeric id), ``extra["hint"]``,
``extra["split"]``, optional ``extra["source"]`` / ``extra["comment"]``.
"""

from __future__ import annotations

import argparse
import math
import string
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from awaker_eval.tasks.base import Benchmark

from awaker_eval.tasks.mmbench.loader import CIRCULAR_BASE
from awaker_eval.engine.store import MERGED_FILE
from awaker_eval.rundir import CONFIG_FILE, read_config
from awaker_eval.score.common import is_failed
from awaker_eval.tasks.mmbench.score import incomplete_groups, row_frame, row_index
from awaker_eval.score.consistency import check_predictions
from awaker_eval.score.readers import read_jsonl
from awaker_eval.types import Prediction


def dataset_name(language: str, version: str, split: str) -> str:
    """VLMEvalKit's TSV name, e.g. ``MMBench_TEST_EN_V11``."""
    suffix = "_V11" if version.lower() in ("v11", "v1.1") else ""
    return f"MMBench_{split.upper()}_{language.upper()}{suffix}"


def names_from_config(run_dir: Path) -> tuple[str | None, str | None]:
    """(model name, dataset name) from the run's saved ``config.yaml``, where present."""
    cfg = read_config(run_dir)
    if cfg is None:
        return None, None
    bench = cfg.get("benchmark", {})
    model = cfg.get("model", {}).get("name")
    if bench.get("kind") != "mmbench":
        raise ValueError(f"{run_dir / CONFIG_FILE}: benchmark kind is {bench.get('kind')!r}; export-submission is for MMBench runs")
    return model, dataset_name(bench.get("language", "en"), bench.get("version", "v10"), bench.get("split", "test"))


def submission_frame(predictions: list[Prediction], allow_failed: bool = False) -> pd.DataFrame:
    """One row per circular pass, sorted by index; failed samples are refused unless ``allow_failed``."""
    failed = [p.id for p in predictions if is_failed(p)]
    if failed and not allow_failed:
        raise ValueError(f"{len(failed)} failed sample(s) without a prediction (e.g. {failed[:5]}): rerun them, "
                         "or pass --allow-failed to submit them with an empty prediction")
    letters = sorted({str(c[0]) for p in predictions for c in p.choices} | set("ABCD"))
    letters = [x for x in string.ascii_uppercase if x in letters]
    rows = []
    for p in predictions:
        index = row_index(p)
        if index is None:
            raise ValueError(f"prediction {p.id!r}: no TSV index (set Prediction.extra['index'])")
        options = {str(c[0]): str(c[1]) for c in p.choices}
        row = {"index": index, "question": p.question, "hint": p.extra.get("hint")}
        row.update({x: options.get(x, math.nan) for x in letters})
        row.update({"prediction": p.raw_output or "", "category": p.category, "l2-category": p.l2_category,
                    "split": p.extra.get("split")})
        if p.answer:
            row["answer"] = p.answer
        for key in ("source", "comment"):
            if key in p.extra:
                row[key] = p.extra[key]
        rows.append(row)
    frame = pd.DataFrame(rows).sort_values("index", kind="stable").reset_index(drop=True)
    dup = frame["index"][frame["index"].duplicated()]
    if len(dup):
        raise ValueError(f"duplicated index value(s) {dup.unique()[:5].tolist()}: one prediction per row")
    return frame


def main(argv: list[str], bench: Benchmark, known: Sequence[Benchmark]) -> int:
    """The MMBench submission writer: ``bench`` the MMBench object, ``known`` every registered benchmark."""
    parser = argparse.ArgumentParser(prog="awaker-eval export-submission", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--model", default=None, help="model name in the file name (default: from config.yaml)")
    parser.add_argument("--dataset", default=None, help="e.g. MMBench_TEST_EN_V11 (default: from config.yaml)")
    parser.add_argument("--out", default=None, help="output path (default: RUN_DIR/<model>_<dataset>.xlsx)")
    parser.add_argument("--allow-failed", action="store_true", help="submit failed samples with an empty prediction")
    args = parser.parse_args(argv)
    run_dir = Path(args.run_dir)
    try:
        model, dataset = names_from_config(run_dir)
        model, dataset = args.model or model or run_dir.parent.name, args.dataset or dataset
        if not dataset:
            raise ValueError(f"{run_dir}: no config.yaml to name the dataset: pass --dataset MMBench_TEST_EN_V11")
        predictions = read_jsonl(run_dir / MERGED_FILE)
        if not predictions:
            raise ValueError(f"{run_dir / MERGED_FILE}: no predictions")
        check_predictions(predictions, bench, str(run_dir / MERGED_FILE), known)  # one model, one protocol, MMBench
        frame = submission_frame(predictions, allow_failed=args.allow_failed)
        bad = incomplete_groups(row_frame(predictions, require_answers=False))
    except (ValueError, FileNotFoundError) as exc:
        print(f"awaker-eval export-submission: error: {exc}", file=sys.stderr)
        return 2
    if bad:
        print(f"warning: {len(bad)} question(s) whose circular rows do not match their option count "
              f"(e.g. {bad[:5]})", file=sys.stderr)
    out = Path(args.out) if args.out else run_dir / f"{model}_{dataset}.xlsx"
    frame.to_excel(out, index=False)
    print(f"wrote {len(frame)} rows ({frame['index'].mod(CIRCULAR_BASE).nunique()} questions) to {out}")
    return 0
