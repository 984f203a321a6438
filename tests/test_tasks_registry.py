"""The benchmark registry: built-in kinds, unknown names, and a third-party benchmark added through the
``awaker_eval.benchmarks`` entry point (a toy benchmark defined here, with no published rows)."""

from __future__ import annotations

import json
from importlib.metadata import EntryPoint

import pytest
from PIL import Image

from awaker_eval.config.schema import BenchmarkConfig, RunConfig
from awaker_eval.tasks.vlmevalkit_mcq.extract import extract_can_infer
from awaker_eval.preflight import ConfigError, preflight
from awaker_eval.data.warnings import DataWarnings
from awaker_eval.tasks import Benchmark, BenchmarkError, Level, get_benchmark, registered
from awaker_eval.tasks import registry
from awaker_eval.tasks.base import OVERALL
from awaker_eval.types import Choice, ImageRef, Sample


class ToyBenchmark(Benchmark):
    """A whole benchmark in one class: a JSON list of {id, question, options, answer, colour, image}."""

    kind = "toy"
    title = "Toy colours"
    layouts = ("json",)
    protocols = {"plain": lambda s: s.question + "\n" + "\n".join(f"{c.letter}) {c.text}" for c in s.choices)
                 + "\nAnswer with the letter."}
    extractors = {"can_infer_2024": "can_infer_2024"}
    default_extractor = "can_infer_2024"
    levels = (OVERALL, Level("category", "Colour"))

    def load(self, cfg, warnings):
        items = json.loads(open(cfg.source, encoding="utf-8").read())
        samples = [Sample(id=it["id"], benchmark=cfg.name, language="en", question=it["question"],
                          choices=tuple(Choice(k, v, v) for k, v in it["options"].items()), answer=it["answer"],
                          images=(ImageRef(key=it["image"], path=it["image"]),), category=it["colour"],
                          group=it["id"], cluster=it["image"], extra={"kind": self.kind, "index": i})
                   for i, it in enumerate(items)]
        return samples if cfg.limit is None else samples[:cfg.limit]

    def extract(self, raw_output, item, extractor, judge=None):
        return extract_can_infer(raw_output, item, self.resolve_extractor(extractor), judge)


@pytest.fixture
def toy_plugin(monkeypatch):
    """``toy`` installed as a plugin: importlib.metadata's entry points answer with it."""
    point = EntryPoint(name="toy", value="test_tasks_registry:ToyBenchmark", group=registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [point] if group == registry.ENTRY_POINT_GROUP else [])
    registry.clear_cache()
    yield
    registry.clear_cache()


def toy_data(folder, n=6):
    colours = ["red", "green", "blue"]
    items = []
    for i in range(n):
        colour = colours[i % 3]
        image = folder / f"{i}.png"
        Image.new("RGB", (32, 32), {"red": (220, 0, 0), "green": (0, 200, 0), "blue": (0, 0, 220)}[colour]).save(image)
        items.append({"id": f"t{i}", "question": "What colour is the square?", "colour": colour,
                      "options": {"A": "red", "B": "green", "C": "blue"}, "answer": "ABC"[i % 3], "image": str(image)})
    path = folder / "toy.json"
    path.write_text(json.dumps(items))
    return path


def test_builtin_kinds_and_unknown_name_lists_them():
    assert registered() == ["mcq", "mmbench", "mme_realworld"]
    assert get_benchmark("mmbench").cluster_meaning == "circular question"
    with pytest.raises(BenchmarkError, match=r"^unknown benchmark kind 'mmmu'; registered: mcq, mmbench, mme_realworld$"):
        get_benchmark("mmmu")
    cfg = RunConfig(benchmark=BenchmarkConfig(kind="mmmu"))
    with pytest.raises(ConfigError, match=r"unknown benchmark kind 'mmmu'; registered: mcq, mmbench, mme_realworld"):
        preflight(cfg)
    with pytest.raises(ConfigError, match=r"benchmark.layout='zip' is not a layout of mcq: use one of tsv"):
        preflight(RunConfig(benchmark=BenchmarkConfig(kind="mcq", layout="zip", protocol="vlmevalkit_default")))
    with pytest.raises(ConfigError, match=r"benchmark.protocol='lmms_eval' is unknown for mcq: use one of official, "
                                          r"vlmevalkit_default, vlmevalkit_qwen2vl"):
        preflight(RunConfig(benchmark=BenchmarkConfig(kind="mcq", layout="tsv", protocol="lmms_eval")))


def test_entry_point_plugin_is_registered(toy_plugin, tmp_path):
    assert registered() == ["mcq", "mmbench", "mme_realworld", "toy"]
    bench = get_benchmark("toy")
    assert isinstance(bench, ToyBenchmark) and bench.published_table("en") is None
    samples = bench.load(BenchmarkConfig(name="toy", kind="toy", layout="json", source=str(toy_data(tmp_path))),
                         DataWarnings())
    assert bench.build_prompt(samples[0], "plain") == (
        "What colour is the square?\nA) red\nB) green\nC) blue\nAnswer with the letter.")
    assert registry.score_targets()["toy"] == ("toy", "en")


def test_plugin_with_the_wrong_kind_is_refused(monkeypatch):
    point = EntryPoint(name="other", value="test_tasks_registry:ToyBenchmark", group=registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [point])
    registry.clear_cache()
    with pytest.raises(BenchmarkError, match="benchmark registered as 'other' declares kind 'toy'"):
        get_benchmark("other")
    registry.clear_cache()


def _compose(*overrides):
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from awaker_eval.app import CONF_DIR
    from awaker_eval.config.schema import register_configs

    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return OmegaConf.to_object(compose("config", overrides=list(overrides)))


def test_toy_plugin_end_to_end_without_published_rows(toy_plugin, tmp_path, tiny_cache_dir, capsys):
    """Run (tiny model) -> score -> table -> report -> compare, for a benchmark the harness has never heard of."""
    from awaker_eval.engine.store import read_jsonl_predictions
    from awaker_eval.pipeline import evaluate
    from awaker_eval.report import compare_cli, html_cli, table_cli
    from awaker_eval.score_cli import main as score_main

    data = toy_data(tmp_path)
    common = ["benchmark=mcq", "benchmark.kind=toy", "benchmark.name=toy", "benchmark.layout=json",
              f"benchmark.source={data}", "benchmark.protocol=plain", "benchmark.max_new_tokens=4",
              "benchmark.min_pixels=3136", "benchmark.max_pixels=50176", f"results_root={tmp_path / 'results'}",
              f"model.cache_dir={tiny_cache_dir}", "runner.progress=false", "runner.bootstrap_samples=50"]
    runs = [evaluate(_compose(*common, f"run_id={name}")) for name in ("a", "b")]
    capsys.readouterr()
    preds = list(read_jsonl_predictions(runs[0] / "predictions.jsonl"))
    assert [p.id for p in preds] == [f"t{i}" for i in range(6)]
    assert all(p.extra["kind"] == "toy" and p.extract_method in ("rule", "none") for p in preds)
    scores = json.loads((runs[0] / "scores.json").read_text())
    hits = [p.extracted == p.answer for p in preds]
    assert scores["overall"] == sum(hits) / 6 and scores["n"] == 6
    assert set(scores["category"]) == {"red", "green", "blue"} and "l2_category" not in scores
    assert scores["chance_level"] == pytest.approx(1 / 3) and scores["ci"]["cluster"] == "image"
    assert "no published leaderboard rows" in (runs[0] / "leaderboard.md").read_text()
    assert (runs[0] / "report.html").is_file() and (runs[0] / "plots" / "toy_category.png").is_file()

    assert score_main([str(runs[0] / "predictions.jsonl"), "--benchmark", "toy", "--json"]) == 0
    rescored = json.loads(capsys.readouterr().out)
    assert rescored["overall"] == scores["overall"] and rescored["category"] == scores["category"]

    assert table_cli.main([str(tmp_path / "results"), "--format", "csv"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0] == "model,parameters,institution,overall,ours,ci_lo,ci_hi" and len(table) == 3  # ours only
    assert table_cli.main([str(runs[0]), "--benchmark", "toy"]) == 0
    assert capsys.readouterr().out.startswith("### toy\n")

    assert html_cli.main([str(runs[1]), "--no-plots"]) == 0
    assert "<h2>Leaderboard</h2><p>toy has no published leaderboard rows" in (runs[1] / "report.html").read_text()
    capsys.readouterr()
    assert compare_cli.main([str(runs[0]), str(runs[1])]) == 3  # 6 units cannot see a 1-point drop
    assert "GATE INCONCLUSIVE" in capsys.readouterr().out
    assert compare_cli.main([str(runs[0]), str(runs[1]), "--max-drop", "100"]) == 0
    out = capsys.readouterr().out
    assert "units matched: 6" in out and "GATE PASSED" in out and "| category | blue" in out


def test_prompt_comes_from_the_runs_benchmark_object_not_a_guess():
    from awaker_eval.prompts import PromptError, build_prompt
    from awaker_eval.sample_io import SampleEncoder

    sample = Sample(id="q", benchmark="x", language="en", question="Which?", task="Perception",
                    choices=(Choice("A", "yes", "(A) yes"), Choice("B", "no", "(B) no")), answer="A")
    with pytest.raises(PromptError, match="unknown prompt protocol 'lmms_eval' for mcq"):  # the run's, not a guess
        build_prompt(sample, "lmms_eval", get_benchmark("mcq"))  # (once guessed from the sample's `task`)
    assert SampleEncoder(get_benchmark("mcq"), "vlmevalkit_default").prompt_text(sample) == (
        "Question: Which?\nOptions:\nA. yes\nB. no\nPlease select the correct answer from the options above. \n")
