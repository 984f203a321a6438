"""Figures a paper could use: readable names, chance lines, Overall bar, ties in the expert heatmap, SVG beside PNG."""

from __future__ import annotations

import pandas as pd
import pytest

from awaker_eval.report import plots_cli
from awaker_eval.report.leaderboard import our_row, table_frame
from awaker_eval.report.plots import chance_rate, plot_leaderboard, readable_group, top_experts
from awaker_eval.report.published import table_for
from awaker_eval.tasks.registry import get_benchmark
from test_report_support import mmbench_predictions, write_run


def test_group_names_are_readable():
    assert readable_group("subtask", "Perception/Autonomous_Driving", get_benchmark("mme_realworld")) == "Autonomous Driving (Perception)"
    assert readable_group("category", "attribute_visual_trafficsignal/attribute", get_benchmark("mme_realworld")) == \
        "Attribute visual trafficsignal"
    assert readable_group("category", "vehicle/attribute", get_benchmark("mme_realworld")) == "Vehicle / attribute"
    assert readable_group("l2_category", "FP-S", get_benchmark("mmbench")) == "Finegrained perception (instance-level) (FP-S)"
    assert readable_group("overall", "Overall", get_benchmark("mmbench")) == "Overall"


def test_chance_rates():
    assert chance_rate(pd.DataFrame({"n_rows": [1, 1]}), get_benchmark("mme_realworld")) == 0.2  # five options A-E
    # CircularEval: all N rotations of an N-option question right by guessing: (1/N)^N, averaged
    assert chance_rate(pd.DataFrame({"n_rows": [2, 4]}), get_benchmark("mmbench")) == pytest.approx((0.25 + 1 / 256) / 2)


def test_ties_are_shown_as_ties():
    counts = pd.DataFrame({"task": ["OCR"] * 3, "layer": [0] * 3, "router": ["o_proj"] * 3, "expert": [3, 1, 2],
                           "count": [2, 2, 1], "share": [0.4, 0.4, 0.2]})
    top = top_experts(counts).iloc[0]
    assert (top["expert"], top["share"], top["tied"]) == (1, 0.4, "1=3")


def test_plots_have_overall_bar_chance_and_svg(tmp_path, capsys):
    run = write_run(tmp_path / "mmb", mmbench_predictions(n_questions=30), kind="mmbench", name="mmbench",
                    version="v11", split="dev", n_boot=20)
    assert plots_cli.main([str(run), "--n-boot", "100"]) == 0
    data = pd.read_csv(run / "plots" / "mmbench_l2_category.csv")
    assert data["label"].iloc[0] == "Overall" and data["level"].iloc[0] == "overall" and data["n"].iloc[0] == 30
    assert set(data["chance"].round(4)) == {round(100 / 27, 4)}  # 3 passes each: (1/3)^3
    assert "Coarse perception (CP)" in set(data["label"])
    for stem in ("mmbench_l2_category", "mmbench_category"):
        assert (run / "plots" / f"{stem}.svg").read_text().lstrip().startswith("<?xml")


def test_leaderboard_figure_data(tmp_path):
    spec = table_for(get_benchmark("mme_realworld"), "en")
    scores = {"overall": 0.5, "perception": 0.5, "reasoning": 0.5, "n": 15, "ci": {"overall": [0.3, 0.7]}}
    row = our_row(get_benchmark("mme_realworld"), spec, "ours", [(_bench(), scores)])
    png = plot_leaderboard(table_frame(spec, [row]), tmp_path / "lb.png")
    data = pd.read_csv(png.with_suffix(".csv"))
    ours = data[data["ours"]].iloc[0]
    assert (ours["model"], ours["overall"], ours["ci_lo"], ours["ci_hi"]) == ("ours", 50.0, 30.0, 70.0)
    assert data["overall"].is_monotonic_decreasing and (~data["ours"]).sum() == len(spec.load())


def _bench():
    from awaker_eval.config.schema import BenchmarkConfig

    return BenchmarkConfig(name="mme_realworld", kind="mme_realworld", split="test")
