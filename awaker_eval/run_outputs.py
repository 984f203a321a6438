"""The files a finished run leaves behind: scores.json, leaderboard.md, run.json (predictions.jsonl is the engine's).

Scores are always recomputed from the merged predictions file, so ``scores.json`` can never disagree with it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from awaker_eval.config.schema import RunConfig


def score_run(cfg: RunConfig, predictions: list, seed: int | None = None) -> dict[str, Any]:
    """Official aggregates + bootstrap intervals for one run's predictions."""
    from awaker_eval.report.stats import add_intervals
    from awaker_eval.score import score_predictions, score_units

    kind = cfg.benchmark.kind
    scores = score_predictions(kind, predictions)
    if all(p.correct is not None for p in predictions):  # hidden answers (MMBench test): nothing to interval
        units = score_units(kind, predictions)
        scores = add_intervals(
            scores, units, kind, n_boot=cfg.runner.bootstrap_samples, seed=cfg.runner.seed if seed is None else seed
        )
    scores["benchmark"] = {
        "name": cfg.benchmark.name, "kind": kind, "language": cfg.benchmark.language,
        "version": cfg.benchmark.version, "split": cfg.benchmark.split, "protocol": cfg.benchmark.protocol,
        "extractor": cfg.benchmark.extractor, "min_pixels": cfg.benchmark.min_pixels,
        "max_pixels": cfg.benchmark.max_pixels,
    }
    scores["model"] = cfg.model.name
    return scores


def write_run_outputs(cfg: RunConfig, run_dir: Path, result, model, protocol_fp: str, model_fp: str,
                      timings: dict[str, float]) -> dict[str, Any]:
    from awaker_eval.engine.metadata import collect_run_metadata
    from awaker_eval.report.leaderboard import render_leaderboard

    predictions = list(result.predictions)
    scores = score_run(cfg, predictions)
    (run_dir / "scores.json").write_text(json.dumps(scores, indent=2, sort_keys=True))
    table = render_leaderboard(scores, run_label=cfg.model.name, benchmark=scores["benchmark"])
    (run_dir / "leaderboard.md").write_text(table)
    meta = collect_run_metadata(
        cfg=cfg, result=result, model=model, protocol_fp=protocol_fp, model_fp=model_fp, timings=timings
    )
    (run_dir / "run.json").write_text(json.dumps(meta, indent=2, sort_keys=True, default=str))
    print(table)
    print(f"\nrun directory: {run_dir}")
    return scores
