"""``awaker-eval explain`` (issue 22): Shapley attribution of B - A to the differing knobs on tiny-model runs of the
demo sample; the contributions sum to the measured difference, a rerun runs nothing, extractor-only work loads no
model, and runs that are not one pair of the same model and items are refused in one line."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from test_report_support import mme_predictions, write_run

from awaker_eval import cli, pipeline
from awaker_eval.app import CONF_DIR
from awaker_eval.config.schema import register_configs
from awaker_eval.reextract_run import write_reextracted
from awaker_eval.report.runs import load_run
from awaker_eval.report.shapley import exact_shapley, path_masks, sampled_shapley
from awaker_eval.tasks.registry import catalogue

KNOBS3 = ["benchmark.extractor", "benchmark.max_pixels", "benchmark.max_new_tokens"]


def tiny_cfg(*overrides: str):
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return OmegaConf.to_object(compose("config", overrides=list(overrides)))


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory, tiny_cache_dir):
    """A (defaults) and B (three knobs changed) side by side; C (extractor + max_pixels) elsewhere; 6 items."""
    root = tmp_path_factory.mktemp("explain")

    def run(where: str, *overrides: str) -> Path:
        return pipeline.evaluate(tiny_cfg(f"output_dir={root / where}", f"model.cache_dir={tiny_cache_dir}",
                                          f"benchmark.cache_dir={root / 'data'}", "benchmark.limit=6",
                                          "runner.progress=false", *overrides))

    a = run("pair/a")
    b = run("pair/b", "benchmark.extractor=vlmevalkit_2024", "benchmark.max_pixels=50176",
            "benchmark.max_new_tokens=24")
    c = run("other/c", "benchmark.extractor=fixed", "benchmark.max_pixels=50176")
    return {"root": root, "a": a, "b": b, "c": c}


def explain(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(["explain", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def overall(run_dir: Path) -> float:
    return json.loads((run_dir / "scores.json").read_text())["overall"]


def no_model(monkeypatch) -> None:
    """Any model load or pipeline run fails the test."""
    def refuse(*_args, **_kwargs):
        raise AssertionError("a model was built / the pipeline ran")
    monkeypatch.setattr(pipeline, "build_model", refuse)
    monkeypatch.setattr(pipeline, "evaluate", refuse)


def test_dry_run_lists_configurations_and_cost_and_writes_nothing(tiny_runs, capsys, tmp_path):
    a, b = (Path(shutil.copytree(tiny_runs[k], tmp_path / k)) for k in ("a", "b"))
    code, out, _ = explain(capsys, a, b, "--dry-run")
    assert code == 0
    assert f"knobs (3): {', '.join(KNOBS3)}" in out
    assert "configurations (8, exact):" in out
    assert "cost: 6 units x 8 configurations = 48 unit evaluations; need inference: 2 configuration(s) (12 units); " \
           "re-extraction only: 4; already there: 2" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]  # nothing written


def test_explain_sums_to_the_difference_names_only_the_differing_knobs_and_reruns_nothing(
        tiny_runs, capsys, monkeypatch):
    a, b = tiny_runs["a"], tiny_runs["b"]
    code, out, err = explain(capsys, a, b, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert {"total", "contributions", "intervals", "runs"} <= set(report)
    assert list(report["contributions"]) == KNOBS3 == list(report["intervals"])
    measured = 100 * (overall(b) - overall(a))
    assert abs(report["total"] - measured) < 1e-9
    assert abs(sum(report["contributions"].values()) - measured) < 1e-9
    for split in report["splits"].values():
        assert abs(sum(split["contributions"].values()) - split["total"]) < 1e-9
    for knob, (lo, hi) in report["intervals"].items():
        assert lo <= report["contributions"][knob] + 1e-9 and report["contributions"][knob] <= hi + 1e-9
    runs = [Path(r) for r in report["runs"]]
    assert len(runs) == 8 and runs[0] == a and runs[-1] == b
    assert all((r / "scores.json").is_file() and r.parent == a.parent for r in runs)
    reextracted = [r for r in runs if "reextracted_from" in json.loads((r / "run.json").read_text())]
    assert len(reextracted) == 4  # every extractor-only configuration re-read stored raw outputs
    stamps = {r: (r / "predictions.jsonl").stat().st_mtime_ns for r in runs}
    no_model(monkeypatch)
    code, again, err = explain(capsys, a, b, "--json")
    assert code == 0, err
    assert json.loads(again) == report  # the same numbers, no inference, no directory rewritten
    assert stamps == {r: (r / "predictions.jsonl").stat().st_mtime_ns for r in runs}
    assert "running configuration" not in err and "re-extracting" not in err


def test_text_and_page(tiny_runs, capsys, tmp_path):
    code, out, err = explain(capsys, tiny_runs["a"], tiny_runs["b"], "--out", tmp_path / "explain.html")
    assert code == 0, err
    assert "exact Shapley attribution over 8 configurations, 6 units" in out
    assert out.count("sum of contributions") == 1 + out.count("\nPerception") + out.count("\nReasoning")
    page = (tmp_path / "explain.html").read_text()
    assert "waterfall.png" in page and "Units each knob flipped" in page
    assert (tmp_path / "explain_files" / "waterfall.png").stat().st_size > 1000
    assert len((tmp_path / "explain_files" / "waterfall.csv").read_text().splitlines()) == 1 + 3 + 2


def test_extractor_and_pixels_pair_needs_no_model(tiny_runs, capsys, monkeypatch, tmp_path):
    a = Path(shutil.copytree(tiny_runs["a"], tmp_path / "a"))
    c = Path(shutil.copytree(tiny_runs["c"], tmp_path / "c"))
    no_model(monkeypatch)
    code, out, err = explain(capsys, a, c, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert list(report["contributions"]) == ["benchmark.extractor", "benchmark.max_pixels"]
    assert abs(sum(report["contributions"].values()) - 100 * (overall(c) - overall(a))) < 1e-9
    assert err.count("re-extracting configuration") == 2


def test_python_api_explain_equals_the_command(tiny_runs, capsys, monkeypatch, tmp_path):
    import awaker_eval

    api_explain = awaker_eval.explain  # the API module loads before the model loaders are replaced below
    a = Path(shutil.copytree(tiny_runs["a"], tmp_path / "a"))
    c = Path(shutil.copytree(tiny_runs["c"], tmp_path / "c"))
    code, out, err = explain(capsys, a, c, "--json")
    assert code == 0, err
    no_model(monkeypatch)  # the command made every configuration: the API's call runs nothing
    report = api_explain(a, c)
    assert report == json.loads(out)
    assert abs(sum(report["contributions"].values()) - report["total"]) < 1e-9
    with pytest.raises(ValueError, match="permutations must be >= 1"):
        api_explain(a, c, permutations=-2)


def test_extractor_only_pair_moves_the_score_without_a_model(tiny_runs, capsys, monkeypatch, tmp_path):
    """Crafted raw outputs the two extractors read differently: the whole difference is the extractor's."""
    source = load_run(tiny_runs["a"], catalogue())
    for i, p in enumerate(source.predictions()):
        answer_text = dict((c[0], c[1]) for c in p.choices)[p.answer]
        p.raw_output = answer_text if i % 2 else f"Best answer: {p.answer}"  # official reads one, fixed the other
    cfg = tiny_cfg("benchmark.limit=6")
    a = write_reextracted(source, cfg, tmp_path / "official")
    fixed = tiny_cfg("benchmark.limit=6", "benchmark.extractor=fixed")
    b = write_reextracted(source, fixed, tmp_path / "fixed")
    no_model(monkeypatch)
    code, out, err = explain(capsys, a, b, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["total"] != 0 and report["contributions"] == {"benchmark.extractor": report["total"]}
    flips = report["flips"]["benchmark.extractor"]
    assert flips["fixed"] + flips["broken"] > 0
    assert abs(report["total"] - 100 * (overall(b) - overall(a))) < 1e-9


# -- hostile inputs ---------------------------------------------------------------------------------------------
def _pair(tmp_path: Path, b_preds=None, **b_bench) -> tuple[Path, Path]:
    preds = mme_predictions(n_per_subtask=6, n_reasoning=6)
    a = write_run(tmp_path / "a", preds, n_boot=100)
    b = write_run(tmp_path / "b", preds if b_preds is None else b_preds, n_boot=100, **b_bench)
    return a, b


def _one_line_refusal(capsys, *args) -> str:
    code, out, err = explain(capsys, *args)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
    return err


def test_refuses_other_model_items_data(capsys, tmp_path):
    other = mme_predictions(n_per_subtask=6, n_reasoning=6)
    for p in other:
        p.model_fp = "another-model"
    err = _one_line_refusal(capsys, *_pair(tmp_path / "m", other, extractor="fixed"))
    assert "model" in err and "another-model" in err
    fewer = mme_predictions(n_per_subtask=6, n_reasoning=3)
    err = _one_line_refusal(capsys, *_pair(tmp_path / "i", fewer, extractor="fixed"))
    assert "different sample sets" in err
    err = _one_line_refusal(capsys, *_pair(tmp_path / "d", extractor="fixed", limit=30))
    assert "benchmark.limit: None vs 30" in err


def test_refuses_a_model_option_that_is_no_knob(capsys, tmp_path):
    """``model.choice_padding`` changes choice-mode scores but is no knob: the configurations between A and B
    would take it from A alone and blame the knobs for its effect. Refused, as any result setting outside them."""
    import yaml

    a, b = _pair(tmp_path, extractor="fixed")
    for run, padding in ((a, "left"), (b, "right")):
        config = yaml.safe_load((run / "config.yaml").read_text())
        config["model"]["choice_padding"] = padding
        config["runner"] = {"mode": "choice"}
        (run / "config.yaml").write_text(yaml.safe_dump(config))
    err = _one_line_refusal(capsys, a, b)
    assert "model.choice_padding: 'left' vs 'right'" in err
    for run in (a, b):  # in generate mode the choice padding reads nothing: the pair is explained
        config = yaml.safe_load((run / "config.yaml").read_text())
        config["runner"] = {"mode": "generate"}
        (run / "config.yaml").write_text(yaml.safe_dump(config))
    assert "model.choice_padding" not in explain(capsys, a, b, "--dry-run")[2]


def test_refuses_more_than_five_knobs_unless_sampled(capsys, tmp_path):
    a, b = _pair(tmp_path, protocol="vlmevalkit", extractor="fixed", min_pixels=3136, max_pixels=50176,
                 max_new_tokens=64)
    config = yaml.safe_load((b / "config.yaml").read_text())
    config["runner"] = {"mode": "choice"}
    (b / "config.yaml").write_text(yaml.safe_dump(config))
    err = _one_line_refusal(capsys, a, b)
    assert "differ in 6 knobs" in err and "2^6 = 64 configurations" in err and "--permutations" in err
    code, out, _ = explain(capsys, a, b, "--dry-run", "--permutations", "3", "--seed", "1")
    assert code == 0 and "sampled, 3 permutations" in out and "knobs (6)" in out


def test_refuses_missing_invalid_and_identical(capsys, tmp_path):
    err = _one_line_refusal(capsys, tmp_path / "nope", tmp_path / "nope2")
    assert "nope" in err
    a, b = _pair(tmp_path, extractor="fixed")
    scores = json.loads((b / "scores.json").read_text())
    scores["invalid"] = {"n_failed": 5, "n_total": 30, "max_failed_fraction": 0.0, "first_error": "boom",
                         "first_failed_id": "mme-1"}
    (b / "scores.json").write_text(json.dumps(scores))
    assert "INVALID" in _one_line_refusal(capsys, a, b)
    a2, b2 = _pair(tmp_path / "same")
    assert "differ in no protocol knob" in _one_line_refusal(capsys, a2, b2)
    assert "--n-boot" in _one_line_refusal(capsys, a2, b2, "--n-boot", "5")


def test_sampled_estimate_also_sums_to_the_difference(tiny_runs, capsys):
    code, out, err = explain(capsys, tiny_runs["a"], tiny_runs["b"], "--json", "--permutations", "4", "--seed", "3")
    assert code == 0, err
    report = json.loads(out)
    assert report["method"] == "sampled (4 permutations, seed 3)"
    measured = 100 * (overall(tiny_runs["b"]) - overall(tiny_runs["a"]))
    assert abs(sum(report["contributions"].values()) - measured) < 1e-9


def test_shapley_values_of_a_known_game():
    """v(0)=0, v(A)=1, v(B)=0, v(AB)=3: knob 0 gets (1 + 3) / 2 = 2, knob 1 gets (0 + 2) / 2 = 1; the mean over
    every order is the exact value; per unit, the values sum to the unit's own B - A."""
    values = {0: np.array([0.0, 1.0]), 1: np.array([1.0, 1.0]), 2: np.array([0.0, 0.0]), 3: np.array([3.0, 0.0])}
    phi = exact_shapley(values, 2)
    assert phi[:, 0].tolist() == [2.0, 1.0]
    assert np.allclose(phi.sum(axis=0), values[3] - values[0])
    orders = list(itertools.permutations(range(2)))
    assert np.allclose(sampled_shapley(values, orders, 2), phi) and path_masks(orders) == [0, 1, 2, 3]
    rng = np.random.default_rng(0)
    cube = {m: rng.integers(0, 2, 50).astype(float) for m in range(8)}
    assert np.allclose(sampled_shapley(cube, list(itertools.permutations(range(3))), 3), exact_shapley(cube, 3))
