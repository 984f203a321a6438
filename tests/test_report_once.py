"""The run's tail computes each thing once (issue 10, item 6): one bootstrap call per run for every level
(scores.json ``ci``, the report's breakdowns and the plots' CSVs), one item table per run, and stored intervals
reused by ``report`` / ``plot`` when they were made with the same resamples on the same predictions."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from awaker_eval.app import CONF_DIR
from awaker_eval.config.schema import register_configs
from awaker_eval.pipeline import evaluate
from awaker_eval.report import html_cli, intervals, plots_cli, stats
from awaker_eval.report.intervals import run_intervals
from awaker_eval.report.stats import bootstrap_intervals
from awaker_eval.score import score_units
from awaker_eval.tasks.mme_realworld import score as mme_score
from awaker_eval.tasks.registry import get_benchmark
from test_report_support import mme_predictions, write_run

N_BOOT = 100


class Calls:
    """Counts calls of the one bootstrap and of the item-table builders while it is active."""

    def __init__(self, monkeypatch):
        self.count: Counter = Counter()
        # the bootstrap under every name it is reachable by (intervals, and stats for bootstrap_intervals)
        for owner, name in ((intervals, "bootstrap_means"), (stats, "bootstrap_means"), (mme_score, "item_frame"),
                            (mme_score, "units")):
            self._wrap(monkeypatch, owner, name, getattr(stats, name, None) if owner is intervals else None)

    def _wrap(self, monkeypatch, owner, name, original=None):
        original = original or getattr(owner, name)

        def counted(*args, **kwargs):
            self.count[name] += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, counted)


@pytest.fixture(scope="module")
def counted_demo(tmp_path_factory, tiny_cache_dir):
    """The demo (first 12 items) on the tiny model, with the tail's computations counted."""
    tmp_path = tmp_path_factory.mktemp("once")
    register_configs()
    overrides = [f"results_root={tmp_path / 'results'}", f"model.cache_dir={tiny_cache_dir}",
                 f"benchmark.cache_dir={tmp_path / 'data'}", "benchmark.limit=12", "runner.progress=false",
                 f"runner.bootstrap_samples={N_BOOT}", "runner.seed=3"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = OmegaConf.to_object(compose("config", overrides=overrides))
    with pytest.MonkeyPatch.context() as mp:
        calls = Calls(mp)
        run_dir = evaluate(cfg)
    return run_dir, calls.count


def test_pipeline_bootstraps_once_and_builds_the_item_table_once(counted_demo):
    run_dir, count = counted_demo
    assert count == {"bootstrap_means": 1, "item_frame": 1, "units": 1}
    assert sorted(p.name for p in (run_dir / "plots").glob("*.csv")) == [
        "leaderboard.csv", "mme_realworld_category.csv", "mme_realworld_split.csv", "mme_realworld_subtask.csv"]


def test_report_and_plot_reuse_the_stored_intervals(counted_demo, monkeypatch, capsys, tmp_path):
    """Same resamples as the run: no bootstrap at all, and the same numbers as the run wrote."""
    run_dir, _ = counted_demo
    before = {p.name: p.read_bytes() for p in (run_dir / "plots").glob("mme_realworld_*.csv")}
    calls = Calls(monkeypatch)
    out = tmp_path / "plots"
    assert plots_cli.main([str(run_dir), "--out", str(out), "--n-boot", str(N_BOOT), "--seed", "3"]) == 0
    assert html_cli.main([str(run_dir), "--out", str(tmp_path / "r.html"), "--n-boot", str(N_BOOT), "--seed", "3",
                          "--no-plots"]) == 0
    assert calls.count["bootstrap_means"] == 0
    assert calls.count["item_frame"] == 2  # one per command (each reads and checks the run once)
    assert {name: (out / name).read_bytes() for name in before} == before


def test_other_resamples_are_bootstrapped_once_per_command(counted_demo, monkeypatch, tmp_path):
    run_dir, _ = counted_demo
    calls = Calls(monkeypatch)
    assert html_cli.main([str(run_dir), "--out", str(tmp_path / "r.html"), "--n-boot", "200", "--seed", "3"]) == 0
    assert calls.count["bootstrap_means"] == 1  # breakdowns and the three bar charts share it
    scores = json.loads((run_dir / "scores.json").read_text())
    assert scores["ci"]["n_boot"] == N_BOOT  # the stored intervals are not rewritten by a report


def test_table_equals_a_fresh_bootstrap_of_each_group():
    """Stored intervals are reused only as the number a fresh bootstrap of that group gives (exact floats)."""
    preds = mme_predictions(n_per_subtask=90, n_reasoning=90)  # >= 30 images per group: bootstrap, not small_n
    units = score_units(get_benchmark("mme_realworld"), preds)
    scores = mme_score.metrics(mme_score.item_frame(preds))
    with_ci, fresh = run_intervals(scores, units, get_benchmark("mme_realworld"), n_boot=80, seed=5)
    _, reused = run_intervals(with_ci, units, get_benchmark("mme_realworld"), n_boot=80, seed=5)
    assert reused.table.equals(fresh.table) and set(fresh.table["method"]) == {"bootstrap"}
    for row, mask in zip(fresh.table.itertuples(), fresh.masks):
        one = bootstrap_intervals(units["correct"].to_numpy(), units["cluster"].to_numpy(), {"g": mask},
                                  n_boot=80, seed=5).iloc[0]
        assert (row.n, row.score, row.lo, row.hi) == (one["n"], one["score"], one["lo"], one["hi"])
    assert with_ci["ci"]["perception"] == list(fresh.table.set_index("group").loc["Perception", ["lo", "hi"]])


def test_stored_intervals_of_other_resamples_are_not_reused(monkeypatch):
    preds = mme_predictions(n_per_subtask=6, n_reasoning=6)
    units = score_units(get_benchmark("mme_realworld"), preds)
    scores = mme_score.metrics(mme_score.item_frame(preds))
    with_ci, _ = run_intervals(scores, units, get_benchmark("mme_realworld"), n_boot=80, seed=5)
    forged = json.loads(json.dumps(with_ci))
    forged["ci"]["overall"] = [0.0, 1.0]  # hand-edited, and made with other resamples than asked for
    calls = Calls(monkeypatch)
    kept, table = run_intervals(forged, units, get_benchmark("mme_realworld"), n_boot=80, seed=6)
    assert calls.count["bootstrap_means"] == 1 and kept is forged
    assert tuple(table.table.iloc[0][["lo", "hi"]]) != (0.0, 1.0)


def test_a_written_run_reports_from_its_stored_intervals(tmp_path, monkeypatch):
    run = write_run(tmp_path / "run", mme_predictions(n_per_subtask=6, n_reasoning=6), n_boot=100)
    calls = Calls(monkeypatch)
    assert html_cli.main([str(run), "--n-boot", "100", "--seed", "0"]) == 0
    assert calls.count["bootstrap_means"] == 0


def test_one_strict_reader_for_predictions_jsonl(tmp_path, capsys):
    """``report`` reads predictions.jsonl as ``score`` does: a corrupt line is an error naming it (it once was
    skipped with a log warning, and the report scored one item fewer with exit 0)."""
    run = write_run(tmp_path / "run", mme_predictions(n_per_subtask=2, n_reasoning=2))
    lines = (run / "predictions.jsonl").read_text().splitlines(keepends=True)
    (run / "predictions.jsonl").write_text("".join(lines[:2]) + "{not json\n" + "".join(lines[2:]))
    assert html_cli.main([str(run), "--no-plots"]) == 2
    err = capsys.readouterr().err
    assert f"{run / 'predictions.jsonl'}:3: not a prediction record" in err
    assert not (run / "report.html").exists()


def test_stored_intervals_of_other_units_with_the_same_scores_are_not_reused():
    """Units that give every stored score, unit count and cluster count but are resampled differently (here two
    units of different images and verdicts trade images) must not get the stored intervals."""
    preds = mme_predictions(n_per_subtask=90, n_reasoning=90)  # >= 30 images per group: bootstrap, not small_n
    units = score_units(get_benchmark("mme_realworld"), preds)
    scores = mme_score.metrics(mme_score.item_frame(preds))
    with_ci, _ = run_intervals(scores, units, get_benchmark("mme_realworld"), n_boot=80, seed=5)
    right = units.index[(units["correct"] == 1) & (units["cluster"] == "img-0")][0]
    wrong = units.index[(units["correct"] == 0) & (units["cluster"] != "img-0")][0]
    moved = units.copy()
    moved.loc[[right, wrong], "cluster"] = moved.loc[[wrong, right], "cluster"].to_numpy()
    _, fresh = run_intervals(scores, moved, get_benchmark("mme_realworld"), n_boot=80, seed=5)
    _, reused = run_intervals(with_ci, moved, get_benchmark("mme_realworld"), n_boot=80, seed=5)
    _, before = run_intervals(scores, units, get_benchmark("mme_realworld"), n_boot=80, seed=5)
    assert not fresh.table.equals(before.table)  # the move changes the intervals
    assert reused.table.equals(fresh.table)
