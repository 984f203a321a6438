"""A run directory made from another run's raw outputs with another answer extractor: no model, no inference.

Why: the extractor is the one protocol knob that does not change what the model is asked or how it answers (it is
outside the protocol fingerprint), so a configuration that differs from a stored run only in its extractor is that
run's raw outputs read again. The result is a normal run directory (``config.yaml``, the store's shard and
``predictions.jsonl``, ``scores.json``, ``leaderboard.md``, ``run.json`` naming its source), so ``table``,
``compare`` and ``report`` read it like any other. ``scores.json`` is written last: a directory without it is
unfinished and is made again.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import asdict
from pathlib import Path

from awaker_eval.atomic_io import write_text_atomic
from awaker_eval.config.schema import RunConfig
from awaker_eval.engine.store import prediction_to_json, shard_path, write_merged
from awaker_eval.pipeline import build_judge
from awaker_eval.redact import redact
from awaker_eval.report.leaderboard import render_leaderboard
from awaker_eval.report.runs import SCORES_FILE, Run
from awaker_eval.run_outputs import score_run_parts
from awaker_eval.run_validity import INVALID_KEY, invalid_mark
from awaker_eval.rundir import write_config
from awaker_eval.score.readers import reextract

SOURCE_KEY = "reextracted_from"  # run.json: the run whose raw outputs were read again


def write_reextracted(source: Run, cfg: RunConfig, run_dir: Path) -> Path:
    """Write ``run_dir`` as the run ``cfg`` describes, from ``source``'s stored raw outputs re-read with
    ``cfg.benchmark.extractor`` (and its judge, when one is configured); returns ``run_dir``."""
    predictions = [copy.deepcopy(p) for p in source.predictions()]
    run_dir.mkdir(parents=True, exist_ok=True)
    reextract(predictions, source.bench, cfg.benchmark.extractor, judge=build_judge(cfg, run_dir))
    write_config(run_dir, cfg)
    lines = [prediction_to_json(p) + "\n" for p in predictions]
    shard = shard_path(run_dir, 0)
    shard.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(shard, lines)  # the store a later `run` of these settings resumes from: nothing recomputed
    write_merged(run_dir, [p.id for p in predictions], {p.id: p for p in predictions})
    scores = score_run_parts(source.bench, cfg, predictions).scores
    invalid = invalid_mark(predictions, cfg.runner.max_failed_fraction)
    if invalid is not None:
        scores[INVALID_KEY] = invalid
    write_text_atomic(run_dir / "leaderboard.md", render_leaderboard(scores, cfg.model.name, cfg.benchmark,
                                                                       source.bench))
    meta = {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), SOURCE_KEY: str(source.path),
            "protocol_fp": source.meta.get("protocol_fp"), "model_fp": source.meta.get("model_fp"),
            "data_digest": source.meta.get("data_digest"), "config": asdict(redact(cfg)),
            "visual_tokens": source.meta.get("visual_tokens")}
    if invalid is not None:
        meta[INVALID_KEY] = invalid
    write_text_atomic(run_dir / "run.json", json.dumps(meta, indent=2, sort_keys=True, default=str))
    write_text_atomic(run_dir / SCORES_FILE, json.dumps(scores, indent=2, sort_keys=True))
    return run_dir


