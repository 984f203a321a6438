"""``benchmark.subset``: which ``limit`` units run (first / random / stratified), units kept whole, seeded, recorded
in the config, scores.json, the leaderboard note and the run id; validated before anything runs."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from awaker_eval.app import CONF_DIR
from awaker_eval.config.schema import BenchmarkConfig, RunConfig, register_configs
from awaker_eval.resolve import load_samples
from awaker_eval.data.subsets import allocate, choose_units, describe_subset, draw_rank
from awaker_eval.pipeline import evaluate
from awaker_eval.preflight import ConfigError, check_benchmark
from awaker_eval.report.differences import describe_difference
from awaker_eval.report.leaderboard import render_leaderboard
from awaker_eval.rundir import default_run_id
from awaker_eval.tasks.registry import get_benchmark
from awaker_eval.types import Choice, Sample

CHOICES = (Choice("A", "x", "(A) x"), Choice("B", "y", "(B) y"))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("synthetic"))


def _ids(cache_dir: str, **bench) -> list[str]:
    return [s.id for s in load_samples(BenchmarkConfig(cache_dir=cache_dir, **bench))]


def test_the_synthetic_sample_has_ten_categories_of_unequal_size(data_dir):
    counts = Counter(s.category for s in load_samples(BenchmarkConfig(cache_dir=data_dir)))
    assert len(counts) == 10 and sorted(counts.values()) == [2] * 5 + [6] * 5  # shared images repeat a category


def test_stratified_limit_10_picks_one_item_per_category_and_the_seed_fixes_them(data_dir):
    samples = load_samples(BenchmarkConfig(cache_dir=data_dir, limit=10, subset="stratified"))
    assert len(samples) == 10 and Counter(s.category for s in samples) == Counter(
        {c: 1 for c in {s.category for s in load_samples(BenchmarkConfig(cache_dir=data_dir))}})
    again = _ids(data_dir, limit=10, subset="stratified", subset_seed=0)
    assert [s.id for s in samples] == again
    assert _ids(data_dir, limit=10, subset="stratified", subset_seed=1) != again  # another seed, another draw
    first = _ids(data_dir, limit=10)
    assert [i.rsplit("/", 1)[1] for i in first] == [f"{i:04d}" for i in range(10)]  # limit alone: unchanged
    assert len({i.split("/")[2] for i in first}) == 8  # ... which misses two of the ten categories


def test_stratified_keeps_each_categorys_share(data_dir):
    samples = load_samples(BenchmarkConfig(cache_dir=data_dir, limit=20, subset="stratified", subset_seed=3))
    assert sorted(Counter(s.category for s in samples).values()) == [1] * 5 + [3] * 5  # 6/40 and 2/40 of 20


def test_random_draws_limit_units_in_file_order(data_dir):
    ids = _ids(data_dir, limit=10, subset="random", subset_seed=7)
    everything = _ids(data_dir)
    assert len(ids) == 10 and ids == [i for i in everything if i in set(ids)]
    assert set(ids) == set(sorted(everything, key=lambda u: draw_rank(7, u))[:10])  # the 10 lowest ranks


def test_allocate_largest_remainder_with_one_per_category():
    assert allocate({"a": 5, "b": 3, "c": 2}, 5) == {"a": 3, "b": 1, "c": 1}  # quotas 2.5, 1.5, 1: tie to a
    assert allocate({"a": 97, "b": 2, "c": 1}, 10) == {"a": 8, "b": 1, "c": 1}  # 9.7 / 0.2 / 0.1, then one each
    assert allocate({"a": 97, "b": 2, "c": 1}, 2) == {"a": 2, "b": 0, "c": 0}  # N below the categories: shares only
    assert allocate({"a": 3, "b": 1}, 9) == {"a": 3, "b": 1}


def _circular(n_questions: int) -> list[Sample]:
    """MMBench-like samples: 4 circular passes per question, two L3 categories."""
    return [Sample(id=f"{q}-{p}", benchmark="mmbench", language="en", question="?", choices=CHOICES, answer="A",
                   category="cat_even" if q % 2 == 0 else "cat_odd", l2_category="cp", group=str(q), cluster=str(q))
            for q in range(n_questions) for p in range(4)]


@pytest.mark.parametrize("subset", ["first", "random", "stratified"])
def test_circular_questions_stay_whole(subset):
    kept = choose_units(_circular(12), limit=4, subset=subset, seed=5)
    groups = Counter(s.group for s in kept)
    assert len(groups) == 4 and set(groups.values()) == {4}  # 4 questions with all their passes
    if subset == "stratified":
        assert Counter(s.category for s in kept) == {"cat_even": 8, "cat_odd": 8}


def test_a_limit_at_or_above_the_units_keeps_everything():
    samples = _circular(3)
    assert choose_units(samples, limit=3, subset="stratified") == samples
    assert choose_units(samples, limit=None, subset="random") == samples


@pytest.mark.parametrize("bench, message", [
    ({"limit": 5, "subset": "smart"}, "benchmark.subset='smart' is unknown: use one of first, random, stratified"),
    ({"limit": 5, "subset": "random", "subset_seed": -1}, "benchmark.subset_seed=-1 is out of range"),
    ({"subset": "stratified"}, "benchmark.subset=stratified chooses which benchmark.limit units run, but no limit"),
])
def test_preflight_refuses_a_bad_subset(tmp_path, bench, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_benchmark(BenchmarkConfig(cache_dir=str(tmp_path), **bench))


def test_run_id_keeps_its_value_at_the_default_subset():
    cfg = RunConfig()
    base = default_run_id(cfg, "digest")
    same = dataclasses.replace(cfg, benchmark=dataclasses.replace(cfg.benchmark, subset="first", subset_seed=0))
    assert default_run_id(same, "digest") == base
    for change in ({"subset": "stratified"}, {"subset": "random"}, {"subset_seed": 1}):
        other = dataclasses.replace(cfg, benchmark=dataclasses.replace(cfg.benchmark, **change))
        assert default_run_id(other, "digest") != base, change


MME = get_benchmark("mme_realworld")


def test_subset_in_the_leaderboard_note_and_in_differences():
    bench = BenchmarkConfig(limit=10, subset="stratified", subset_seed=2)
    table = render_leaderboard({"overall": 0.5, "n": 10}, "tiny", bench, MME)
    assert ("- tiny: a subset run (limit=10, subset=stratified: 10 units drawn in proportion to each category's "
            "share, at least one per category where the limit allows (subset_seed=2)): not comparable to the "
            "published rows.") in table
    assert "a subset run" not in render_leaderboard({"overall": 0.5, "n": 40}, "tiny", BenchmarkConfig(), MME)
    assert describe_subset(5) == "limit=5: the first 5 units of the file"
    old = {"benchmark": {"limit": 10}}  # a config saved before subset existed means "first"
    assert describe_difference(old, {"benchmark": {"limit": 10, "subset": "first", "subset_seed": 0}}) == []
    assert describe_difference(old, {"benchmark": {"limit": 10, "subset": "stratified"}}) == [
        "subset choice (benchmark.subset) differs: base 'first', new 'stratified'"]


def _cfg(tmp_path, tiny_cache_dir, *extra: str) -> RunConfig:
    register_configs()
    overrides = [f"results_root={tmp_path / 'results'}", f"model.cache_dir={tiny_cache_dir}",
                 f"benchmark.cache_dir={tmp_path / 'data'}", "runner.progress=false", "runner.bootstrap_samples=100",
                 *extra]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return OmegaConf.to_object(compose("config", overrides=overrides))


def test_a_stratified_run_records_its_subset(tmp_path, tiny_cache_dir):
    cfg = _cfg(tmp_path, tiny_cache_dir, "benchmark.limit=10", "benchmark.subset=stratified",
               "benchmark.subset_seed=4")
    run_dir = evaluate(cfg)
    scores = json.loads((run_dir / "scores.json").read_text())
    assert scores["n"] == 10 and len(scores["category"]) == 10
    assert {k: scores["benchmark"][k] for k in ("limit", "subset", "subset_seed")} == {
        "limit": 10, "subset": "stratified", "subset_seed": 4}
    saved = OmegaConf.load(run_dir / "config.yaml").benchmark
    assert (saved.limit, saved.subset, saved.subset_seed) == (10, "stratified", 4)
    assert "subset=stratified" in (run_dir / "leaderboard.md").read_text()
    ids = [json.loads(line)["id"] for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
    assert sorted(ids) == sorted(_ids(str(tmp_path / "data"), limit=10, subset="stratified", subset_seed=4))
