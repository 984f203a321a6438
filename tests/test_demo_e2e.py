"""The offline demo end to end on the tiny model: every file, scores == recomputation, our row, resume."""

from __future__ import annotations

import json

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from awaker_eval.app import CONF_DIR
from awaker_eval.config.schema import RunConfig, register_configs
from awaker_eval.engine.store import read_jsonl_predictions
from awaker_eval.pipeline import evaluate
from awaker_eval.run_outputs import score_run
from awaker_eval.tasks.registry import get_benchmark


def demo_cfg(tmp_path, tiny_cache_dir, *extra: str) -> RunConfig:
    """The offline demo's config with its results, data and tiny model under the test's folders."""
    register_configs()
    overrides = [
        f"results_root={tmp_path / 'results'}",
        f"model.cache_dir={tiny_cache_dir}",
        f"benchmark.cache_dir={tmp_path / 'data'}",
        "runner.progress=false",
        "runner.bootstrap_samples=200",
        *extra,
    ]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return OmegaConf.to_object(compose("config", overrides=overrides))


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory, tiny_cache_dir):
    tmp_path = tmp_path_factory.mktemp("demo")
    cfg = demo_cfg(tmp_path, tiny_cache_dir)
    return cfg, evaluate(cfg)


def test_demo_writes_every_file(demo_run):
    cfg, run_dir = demo_run
    assert run_dir.parent.parent.name == "mme_realworld_sample" and run_dir.parent.name == "tiny"
    for name in ("config.yaml", "predictions.jsonl", "scores.json", "leaderboard.md", "run.json"):
        assert (run_dir / name).is_file(), name
    lines = (run_dir / "predictions.jsonl").read_text().splitlines()
    assert len(lines) == 40
    first = json.loads(lines[0])
    for key in ("id", "prompt_hash", "raw_output", "extracted", "extract_method", "answer", "correct"):
        assert key in first
    assert OmegaConf.load(run_dir / "config.yaml").model.kind == "tiny"


def test_scores_equal_recomputation_from_predictions(demo_run):
    cfg, run_dir = demo_run
    stored = json.loads((run_dir / "scores.json").read_text())
    preds = list(read_jsonl_predictions(run_dir / "predictions.jsonl"))
    recomputed = json.loads(json.dumps(score_run(get_benchmark(cfg.benchmark.kind), cfg, preds)))
    assert stored == recomputed
    n_correct = sum(bool(p.correct) for p in preds)
    assert stored["overall"] == n_correct / 40
    perception = [p for p in preds if p.task == "Perception"]
    assert stored["n_perception"] == len(perception)
    assert stored["perception"] == sum(bool(p.correct) for p in perception) / len(perception)
    lo, hi = stored["ci"]["overall"]
    assert lo <= stored["overall"] <= hi and stored["ci"]["n_units"] == 40


def test_leaderboard_has_our_row_among_published(demo_run):
    cfg, run_dir = demo_run
    table = (run_dir / "leaderboard.md").read_text()
    scores = json.loads((run_dir / "scores.json").read_text())
    ours = [line for line in table.splitlines() if line.startswith("| tiny")]
    assert len(ours) == 1
    assert f"{100 * scores['overall']:.1f}" in ours[0]
    assert "| Awaker2.5-VL | 10.8B | Metabrain AGI | **60.8** | **63.14** | 43.74 |" in table


def test_rerun_resumes_without_recomputing(demo_run, tmp_path, tiny_cache_dir, capsys):
    cfg, run_dir = demo_run
    before = (run_dir / "predictions.jsonl").read_text()
    capsys.readouterr()
    again = evaluate(cfg)
    assert "\nreusing 40 stored predictions, computing 0\n" in "\n" + capsys.readouterr().out
    assert again == run_dir
    assert (run_dir / "predictions.jsonl").read_text() == before
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["counts"]["skipped"] == 40 and meta["counts"]["done"] == 0
