"""A run on data with rows that upstream accepts: the oddities are printed and land in run.json, scores.json and
report.html; under benchmark.strict the run stops with one line naming file and row, before any model loads."""

from __future__ import annotations

import json

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from test_data_mme_realworld import official_rows, write_official

from awaker_eval.app import CONF_DIR
from awaker_eval.config.schema import RunConfig, register_configs
from awaker_eval.pipeline import evaluate


def _cfg(tmp_path, tiny_cache_dir, *extra: str) -> RunConfig:
    register_configs()
    overrides = [f"results_root={tmp_path / 'results'}", f"model.cache_dir={tiny_cache_dir}",
                 f"benchmark.cache_dir={tmp_path / 'data'}", "runner.progress=false", "runner.bootstrap_samples=50",
                 "benchmark.max_new_tokens=2", *extra]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return OmegaConf.to_object(compose("config", overrides=overrides))


def test_data_warnings_reach_run_json_scores_json_report_and_output(tmp_path, tiny_cache_dir, capsys):
    rows = official_rows()
    rows[1]["Answer choices"] = ["(A) 13", "(B) 90", "(C) 77", "(D) 6", "(D) 7"]  # a duplicated (D)
    path, root = write_official(tmp_path, rows)
    source = [f"benchmark.source={path}", f"benchmark.image_root={root}", "benchmark.layout=official_json"]
    run_dir = evaluate(_cfg(tmp_path, tiny_cache_dir, *source))
    qid = "perception/monitoring/Vehicle/counting/0310"
    expected = {"duplicated_option_letter": {
        "count": 1, "ids": [qid],
        "upstream": "two options with the same letter (e.g. a second '(D)'): the official prompt lists every "
                    "option string as given"}}
    assert json.loads((run_dir / "run.json").read_text())["data_warnings"] == expected
    scores = json.loads((run_dir / "scores.json").read_text())
    assert scores["data_warnings"] == expected and scores["n"] == 3  # the row is scored, not dropped
    report = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "Data warnings (rows upstream accepts)" in report and qid in report.split("Data warnings")[1][:2000]
    out = capsys.readouterr().out
    line = (f"data warning: duplicated_option_letter x1 (ids {qid}): two options with the same letter (e.g. a "
            "second '(D)'): the official prompt lists every option string as given")
    assert out.count(line) == 2  # at load time and with the results

    from awaker_eval.app import main as app_main

    with pytest.raises(SystemExit) as exit_info:
        app_main([*source, f"results_root={tmp_path / 'strict'}", f"model.cache_dir={tiny_cache_dir}",
                  f"benchmark.cache_dir={tmp_path / 'data'}", "benchmark.strict=true", "runner.progress=false"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and not list((tmp_path / "strict").rglob("predictions*.jsonl"))
    assert f"{path}, row 1 ({qid}): duplicated option letter(s) ['D']" in err and "Traceback" not in err
