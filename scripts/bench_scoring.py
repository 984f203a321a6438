"""Time MME-RealWorld scoring of N synthetic predictions (extraction + aggregation); prints seconds.

Usage: python scripts/bench_scoring.py [N] [--extractor official|vlmevalkit_2024|fixed]
"""

from __future__ import annotations

import argparse
import random
import time

from awaker_eval.extract import extract_answer
from awaker_eval.score import score_predictions, score_units
from awaker_eval.types import Prediction
from awaker_eval.tasks.registry import get_benchmark

OUTPUTS = ["A", "B.", "The best answer is C", "Best answer: D", "E", "", "457", "none of these",
           "I think the answer might be (D) 455", "c", "Based on the image, the answer is B because " * 3]
SUBTASKS = ["Monitoring", "OCR with Complex Context", "Diagram and Table", "Autonomous_Driving", "Remote Sensing"]


def synthetic(n: int, seed: int = 0) -> list[Prediction]:
    rng = random.Random(seed)
    choices = [[x, f"{450 + i}", f"({x}) {450 + i}"] for i, x in enumerate("ABCDE")]
    preds = []
    for i in range(n):
        task = "Perception" if rng.random() < 0.88 else "Reasoning"
        sub = rng.choice(SUBTASKS[:4] if task == "Reasoning" else SUBTASKS)
        preds.append(Prediction(
            id=f"q{i}", benchmark="mme_realworld", prompt_hash="", protocol_fp="", model_fp="",
            raw_output=None if i % 997 == 0 else rng.choice(OUTPUTS), extracted="", extract_method="none",
            answer=rng.choice("ABCDE"), correct=None, task=task, subtask=sub,
            category=rng.choice(["vehicle/attribute/color", "Vehicle/counting", "table", "license"]),
            cluster=f"img{i // 3}", choices=choices))
    return preds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=30_000)
    parser.add_argument("--extractor", default="official")
    args = parser.parse_args()
    preds = synthetic(args.n)
    t0 = time.perf_counter()
    for p in preds:
        p.extracted, p.extract_method = extract_answer(get_benchmark("mme_realworld"), p.raw_output, p, args.extractor)
        p.correct = bool(p.extracted) and p.extracted == p.answer
    t1 = time.perf_counter()
    metrics = score_predictions(get_benchmark("mme_realworld"), preds)
    t2 = time.perf_counter()
    units = score_units(get_benchmark("mme_realworld"), preds)
    t3 = time.perf_counter()
    print(f"{args.n} MME-RealWorld predictions ({args.extractor}): extraction {t1 - t0:.3f} s, "
          f"score_predictions {t2 - t1:.3f} s, total {t2 - t0:.3f} s; score_units {t3 - t2:.3f} s "
          f"(overall {metrics['overall']:.4f}, {len(units)} units)")


if __name__ == "__main__":
    main()
