"""``awaker-eval score PREDICTIONS --benchmark NAME [--extractor X] [--json] [--items-out PATH]``.

Scores our ``predictions.jsonl`` (stored letters, or re-extracted from ``raw_output`` with ``--extractor``),
an official MME-RealWorld submission JSON, or a VLMEvalKit prediction table (always extracted here).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from awaker_eval.score.common import is_correct
from awaker_eval.score.readers import reextract
from awaker_eval.tasks.registry import catalogue, get_benchmark, score_targets
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


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    kind, _language = score_targets()[args.benchmark]
    bench = get_benchmark(kind)
    try:
        predictions = bench.read_predictions(args.predictions)
        bench.check_predictions(predictions, args.predictions, list(catalogue().values()))
        external = any(p.protocol_fp.startswith("external:") for p in predictions)  # e.g. official .jsonl
        if args.extractor is not None or external or not args.predictions.endswith(".jsonl"):
            reextract(predictions, bench, args.extractor)
        metrics = bench.metrics(predictions)
    except (ValueError, FileNotFoundError) as exc:
        print(f"awaker-eval score: error: {exc}", file=sys.stderr)
        return 2
    if args.items_out:
        write_items(args.items_out, predictions)
    print(json.dumps(metrics, ensure_ascii=False) if args.json else bench.render(args.benchmark, metrics))
    return 0
