"""Config that cannot lie: each layout has its own default source; a layout override picks it unless a source is
given; a source of another layout is an error naming both, raised by the preflight before anything loads.
Also the Lite run's leaderboard note and the official ``.jsonl`` submission."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from test_data_configs import CONF, compose

from awaker_eval.config.schema import RunConfig
from awaker_eval.data.errors import DataError
from awaker_eval.config.schema import BenchmarkConfig
from awaker_eval.data import sources
from awaker_eval.data.sources import Source
from awaker_eval.preflight import known_repos, preflight
from awaker_eval.tasks.registry import get_benchmark

MME = CONF / "mme_realworld.yaml"


def resolve_source(cfg: BenchmarkConfig) -> Source:
    """As the preflight resolves it: the benchmark object of the kind, the hub repos every benchmark declares."""
    return sources.resolve_source(cfg, get_benchmark(cfg.kind), known_repos())


@pytest.mark.parametrize("file,overrides,expected", [
    (MME, [], Source("yifanzhang114/MME-RealWorld-Lmms-eval")),
    (MME, ["layout=official_json"], Source("yifanzhang114/MME-RealWorld", "MME_RealWorld.json")),
    (MME, ["layout=base64_json"], Source("yifanzhang114/MME-RealWorld-Base64", "MME-RealWorld/*.json")),
    (CONF / "mme_realworld_cn.yaml", ["layout=base64_json"],
     Source("yifanzhang114/MME-RealWorld-Base64", "MME-RealWorld-CN/*.json")),
    (CONF / "mme_realworld_cn.yaml", ["layout=official_json"],
     Source("yifanzhang114/MME-RealWorld", "MME_RealWorld_CN.json")),
    (CONF / "mme_realworld_lite.yaml", [], Source("yifanzhang114/MME-RealWorld-lite-lmms-eval")),
    (CONF / "mme_realworld_lite.yaml", ["layout=tsv"],
     Source("yifanzhang114/MME-RealWorld-Base64", "mme_realworld_lite.tsv")),
    (MME, ["revision=" + "a" * 40], Source("yifanzhang114/MME-RealWorld-Lmms-eval", None, "a" * 40)),
    (CONF / "mmbench.yaml", ["layout=hf_m4", "version=v10"],
     Source("HuggingFaceM4/MMBench", None, "215b79e126bea0777a489683f239edd0a6012a8a")),
    (CONF / "mmbench.yaml", ["layout=hf", "version=v10"], Source("lmms-lab/MMBench")),
    (CONF / "mmbench_cn.yaml", ["version=v10", "split=test"],
     Source("https://opencompass.openxlab.space/utils/benchmarks/MMBench/MMBench_TEST_CN.tsv")),
])
def test_each_layout_has_its_own_default_source(file, overrides, expected):
    assert resolve_source(compose(file, *overrides)) == expected


def test_given_source_wins_and_keeps_the_default_pin_only_when_it_is_the_default_repo(tmp_path):
    assert resolve_source(compose(MME, "source=me/MyCopy")) == Source("me/MyCopy")
    given = compose(CONF / "mmbench.yaml", "layout=hf_m4", "version=v10", "source=HuggingFaceM4/MMBench")
    assert resolve_source(given).revision == "215b79e126bea0777a489683f239edd0a6012a8a"


@pytest.mark.parametrize("overrides,message", [
    (["layout=base64_json", "source=yifanzhang114/MME-RealWorld-Lmms-eval"],
     r"benchmark.source=yifanzhang114/MME-RealWorld-Lmms-eval holds the parquet layout, not "
     r"benchmark.layout=base64_json"),
    (["layout=parquet", "source=yifanzhang114/MME-RealWorld"],
     r"benchmark.source=yifanzhang114/MME-RealWorld holds the official_json layout, not benchmark.layout=parquet"),
    (["layout=tsv"], r"benchmark.layout=tsv has no default source for mme_realworld \(en\): the VLMEvalKit "
                     r"MME-RealWorld TSVs are built locally .*; set benchmark.source"),
    (["variant=mini"], r"benchmark.variant='mini' is unknown: use one of full, lite"),
])
def test_sources_that_do_not_match_the_layout_are_refused(overrides, message):
    with pytest.raises(DataError, match=message):
        resolve_source(compose(MME, *overrides))


def test_a_hub_repo_of_another_benchmark_is_refused_by_the_preflight():
    cfg = RunConfig(benchmark=compose(CONF / "mmbench.yaml", "layout=hf", "version=v10",
                                      "source=yifanzhang114/MME-RealWorld"))
    with pytest.raises(DataError, match=r"benchmark.source=yifanzhang114/MME-RealWorld holds the official_json "
                                        r"layout, not benchmark.layout=hf"):
        preflight(cfg)


def test_local_files_of_another_format_are_refused_by_the_preflight(tmp_path):
    pd.DataFrame({"index": [1]}).to_parquet(tmp_path / "train-0.parquet")
    for source in (tmp_path, tmp_path / "train-0.parquet"):
        cfg = RunConfig(benchmark=compose(MME, "layout=base64_json", f"source={source}"))
        with pytest.raises(DataError, match=rf"benchmark.source={source} holds .parquet files, but "
                                            r"benchmark.layout=base64_json reads .json"):
            preflight(cfg)


def test_lite_note_is_about_its_own_1919_items():
    from awaker_eval.tasks import get_benchmark

    lite, full = compose(CONF / "mme_realworld_lite.yaml"), compose(MME)
    notes = get_benchmark("mme_realworld").leaderboard_notes
    assert not any("subset" in n for n in notes("ours", lite, {"n": 1919}))
    assert any("scored 50 of the 1,919 items (a subset)" in n for n in notes("ours", lite, {"n": 50}))
    assert any("scored 1,919 of the 23,609 items (a subset)" in n for n in notes("ours", full, {"n": 1919}))


def test_score_reads_the_official_jsonl_submission(fixtures_dir, tmp_path, capsys):
    """``eval_your_results.py`` reads the submission as .jsonl too and gives the same scores (Overall 2/5)."""
    from awaker_eval.score_cli import main

    items = json.loads((fixtures_dir / "mme_realworld_output_test_template.json").read_text(encoding="utf-8"))
    jsonl = tmp_path / "results.jsonl"
    jsonl.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")
    metrics, per_item = [], []
    for path in (fixtures_dir / "mme_realworld_output_test_template.json", jsonl):
        out = tmp_path / f"items{path.suffix}"
        capsys.readouterr()
        assert main([str(path), "--benchmark", "mme_realworld", "--json", "--items-out", str(out)]) == 0
        metrics.append(json.loads(capsys.readouterr().out))
        per_item.append(out.read_text())
    assert metrics[0] == metrics[1] and per_item[0] == per_item[1]
    assert (metrics[1]["overall"], metrics[1]["n"], metrics[1]["perception"]) == (0.4, 5, 2 / 3)
