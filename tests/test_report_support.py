"""Synthetic predictions and run directories for the report tests (written by the tests themselves)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml

from awaker_eval.engine.store import prediction_to_json
from awaker_eval.report.intervals import add_intervals
from awaker_eval.report.runs import find_runs
from awaker_eval.score import score_predictions, score_units
from awaker_eval.types import Prediction
from awaker_eval.tasks.registry import catalogue, get_benchmark

PERCEPTION_SUBTASKS = ("OCR with Complex Context", "Remote Sensing", "Diagram and Table", "Autonomous_Driving")


def mme_predictions(n_per_subtask: int = 300, n_reasoning: int = 600, seed: int = 0, acc: float = 0.6,
                    routing: bool = False) -> list[Prediction]:
    """MME-RealWorld items: 4 Perception subtasks + Reasoning/Monitoring, 3 questions per image."""
    rng = np.random.default_rng(seed)
    layout = [("Perception", s) for s in PERCEPTION_SUBTASKS for _ in range(n_per_subtask)]
    layout += [("Reasoning", "Monitoring")] * n_reasoning
    preds = []
    for i, (task, sub) in enumerate(layout):
        ok = bool(rng.random() < acc)
        route = None
        if routing:
            expert = (i % 4) if task == "Reasoning" else (PERCEPTION_SUBTASKS.index(sub) % 4)
            route = {"mode": "fork", "routers": ["self_attn.o_proj", "mlp.gate_proj"],
                     "prefill": {"expert": [[expert, (expert + layer) % 4] for layer in range(3)],
                                 "p": [[0.9, 0.8] for _ in range(3)]}, "decode": None}
        preds.append(Prediction(
            id=f"mme-{i}", benchmark="mme_realworld", prompt_hash="h", protocol_fp="proto", model_fp="model",
            raw_output="A" if ok else "The answer is (B)", extracted="A" if ok else "B", extract_method="rule",
            answer="A", correct=ok, cluster=f"img-{i // 3}", task=task, subtask=sub,
            category=f"{sub[:4].lower()}/{i % 3}", routing=route,
        ))
    return preds


def mmbench_predictions(n_questions: int = 200, seed: int = 0, acc: float = 0.9) -> list[Prediction]:
    """MMBench circular rows: 3 passes per question, 6 l2 abilities."""
    rng = np.random.default_rng(seed)
    l2 = ("coarse_perception", "finegrained_perception (instance-level)", "finegrained_perception (cross-instance)",
          "attribute_reasoning", "relation_reasoning", "logic_reasoning")
    preds = []
    for q in range(n_questions):
        for k in range(3):
            index = q + k * 1_000_000
            ok = bool(rng.random() < acc)
            preds.append(Prediction(
                id=str(index), benchmark="mmbench", prompt_hash="h", protocol_fp="proto", model_fp="model",
                raw_output="A" if ok else "B", extracted="A" if ok else "B", extract_method="rule", answer="A",
                correct=ok, group=str(q), l2_category=l2[q % 6], category=f"cat{q % 4}", extra={"index": index},
            ))
    return preds


def flip(preds: list[Prediction], ids: set[str], to_correct: bool) -> list[Prediction]:
    """A copy of ``preds`` with the given samples made right or wrong."""
    out = []
    for p in preds:
        if p.id in ids:
            letter = "A" if to_correct else "C"
            p = Prediction(**{**p.__dict__, "extracted": letter, "raw_output": letter, "correct": to_correct})
        out.append(p)
    return out


def write_run(run_dir: Path, preds: list[Prediction], kind: str = "mme_realworld", name: str = "mme_realworld",
              language: str = "en", version: str = "v10", split: str = "test", model: str = "awaker",
              checkpoint: str | None = None, n_boot: int = 200, **bench) -> Path:
    """A complete run directory: config.yaml, predictions.jsonl, scores.json (with intervals), run.json."""
    run_dir.mkdir(parents=True, exist_ok=True)
    config = {
        "benchmark": {"name": name, "kind": kind, "language": language, "version": version, "split": split,
                      "protocol": "official", "extractor": "official", "min_pixels": None,
                      "max_pixels": 1_003_520, **bench},
        "model": {"name": model, "kind": "awaker2_5_vl", "checkpoint": checkpoint},
    }
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    (run_dir / "predictions.jsonl").write_text("".join(prediction_to_json(p) + "\n" for p in preds))
    scores = add_intervals(score_predictions(get_benchmark(kind), preds), score_units(get_benchmark(kind), preds), get_benchmark(kind), n_boot=n_boot)
    (run_dir / "scores.json").write_text(json.dumps(scores))
    (run_dir / "run.json").write_text(json.dumps({"n_samples": len(preds)}))
    return run_dir


def test_written_run_loads(tmp_path):
    run = find_runs([write_run(tmp_path / "r", mme_predictions(n_per_subtask=30, n_reasoning=30))], catalogue())[0]
    assert run.kind == "mme_realworld" and run.label == "awaker"
    assert run.scores["n"] == 150 and len(run.units()) == 150
    assert run.scores["ci"]["no_interval"] == [] and run.scores["ci"]["n_clusters"] == 50
