"""``awaker-eval score PREDICTIONS --benchmark NAME [--extractor X] [--json] [--items-out PATH]``.

Scores our ``predictions.jsonl`` (stored letters, or re-extracted from ``raw_output`` with ``--extractor``),
an official MME-RealWorld submission JSON, or a VLMEvalKit prediction table (always extracted here).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tabulate import tabulate

from awaker_eval.score.common import is_correct
from awaker_eval.score.readers import reextract
from awaker_eval.tasks.registry import get_benchmark, score_targets
from awaker_eval.types import Prediction


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="awaker-eval score", description=__doc__.split("\n\n")[1])
    parser.add_argument("predictions", help="predictions.jsonl | MME-RealWorld submission .json | .tsv/.csv/.xlsx")
    parser.add_argument("--benchmark", required=True, choices=sorted(score_targets()))
    parser.add_argument("--extractor", default=None,
                        help="MME-RealWorld: official | vlmevalkit_2024 | fixed | vlmevalkit_head; "
                             "MMBench: can_infer_2024 | can_infer_head (default: the official one; "
                             "for predictions.jsonl the stored letters unless given)")
    parser.add_argument("--json", action="store_true", help="print one JSON object (unrounded fractions)")
    parser.add_argument("--items-out", default=None, help="write one JSON line per item: id, extracted, correct")
    return parser


def write_items(path: str | Path, predictions: list[Prediction]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for p in predictions:
            correct = is_correct(p) if p.answer else None  # None: answer hidden
            fh.write(json.dumps({"id": p.id, "extracted": p.extracted, "correct": correct}, ensure_ascii=False) + "\n")


def _pct(x: float, n: int | None = None) -> str:
    """A percentage; ``-`` for a group with no items (its stored 0.0 is not a score)."""
    return "-" if n == 0 else f"{100 * x:.2f}"


def render(kind: str, benchmark: str, metrics: dict[str, Any]) -> str:
    """A readable summary: headline numbers, then the breakdown tables."""
    if kind == "mme_realworld":
        head = [["Overall", _pct(metrics["overall"], metrics["n"]), metrics["n"]],
                ["Perception", _pct(metrics["perception"], metrics["n_perception"]), metrics["n_perception"]],
                ["Reasoning", _pct(metrics["reasoning"], metrics["n_reasoning"]), metrics["n_reasoning"]]]
        subs = [[task, sub, _pct(e["acc"], e["n"]), e["n"], e["e_count"]]
                for task, entries in metrics["subtask_by_task"].items() for sub, e in entries.items()]
        notes = (f"failed: {metrics['n_failed']}  unparsed: {metrics['n_unparsed']}  "
                 f"E answers: {metrics['e_count']}")
        parts = [tabulate(head, headers=[benchmark, "acc %", "items"], disable_numparse=True),
                 tabulate(subs, headers=["task", "subtask", "acc %", "items", "E"], disable_numparse=True)]
    elif metrics.get("answers_hidden"):
        return (f"{benchmark}: answers hidden (MMBench TEST): {metrics['n_questions']} questions, "
                f"{metrics['n_rows']} rows; failed rows: {metrics['n_failed']}  unparsed passes: "
                f"{metrics['n_unparsed_passes']}  judge call failed: {metrics['n_judge_failed']}. Submit with "
                "`awaker-eval export-submission`.")
    else:
        head = [["Overall (CircularEval)", _pct(metrics["overall"]), metrics["n_questions"]]]
        head += [[f"  {k}", _pct(v), ""] for k, v in sorted(metrics["l2_category"].items())]
        head += [["vanilla (all rows)", _pct(metrics["vanilla_all_rows"]), metrics["n_rows"]],
                 ["vanilla (pass 0)", _pct(metrics["vanilla_pass0"]), ""]]
        notes = (f"failed rows: {metrics['n_failed']}  unparsed passes: {metrics['n_unparsed_passes']}  "
                 f"Z: {metrics['n_z']}  judge: {metrics['n_judge']}  "
                 f"judge call failed: {metrics['n_judge_failed']}  "
                 f"questions missing circular passes: {metrics['n_incomplete_questions']}")
        parts = [tabulate(head, headers=[benchmark, "acc %", "n"], disable_numparse=True)]
    cats = [[k, _pct(v)] for k, v in sorted(metrics["category"].items())]
    parts += [tabulate(cats, headers=["category", "acc %"], disable_numparse=True), notes]
    return "\n\n".join(parts)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    kind, _language = score_targets()[args.benchmark]
    bench = get_benchmark(kind)
    try:
        predictions = bench.read_predictions(args.predictions)
        bench.check_predictions(predictions, args.predictions)
        external = any(p.protocol_fp.startswith("external:") for p in predictions)  # e.g. official .jsonl
        if args.extractor is not None or external or not args.predictions.endswith(".jsonl"):
            reextract(predictions, kind, args.extractor)
        metrics = bench.metrics(predictions)
    except (ValueError, FileNotFoundError) as exc:
        print(f"awaker-eval score: error: {exc}", file=sys.stderr)
        return 2
    if args.items_out:
        write_items(args.items_out, predictions)
    print(json.dumps(metrics, ensure_ascii=False) if args.json else bench.render(args.benchmark, metrics))
    return 0
