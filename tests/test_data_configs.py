"""conf/benchmark/*.yaml: every file is a valid BenchmarkConfig whose loader and protocol exist."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from awaker_eval.config.schema import BenchmarkConfig
from awaker_eval.prompts import canonical_protocol
from awaker_eval.tasks.registry import get_benchmark

CONF = Path(__file__).resolve().parents[1] / "conf" / "benchmark"
FILES = sorted(CONF.glob("*.yaml"))


def compose(path: Path, *overrides: str) -> BenchmarkConfig:
    node = OmegaConf.merge(OmegaConf.structured(BenchmarkConfig), OmegaConf.load(path),
                           OmegaConf.from_dotlist(list(overrides)))
    return OmegaConf.to_object(node)


def test_expected_files_exist():
    assert {p.stem for p in FILES} >= {"mme_realworld_sample", "mme_realworld", "mme_realworld_cn",
                                       "mme_realworld_lite", "mmbench", "mmbench_cn"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_each_config_is_valid(path):
    cfg = compose(path)
    assert cfg.layout in get_benchmark(cfg.kind).layouts
    canonical_protocol(get_benchmark(cfg.kind), cfg.protocol)
    assert cfg.language in ("en", "cn")


def test_mmbench_release_is_chosen_by_overrides():
    assert compose(CONF / "mmbench.yaml").name == "mmbench_dev_en_v11"
    cfg = compose(CONF / "mmbench.yaml", "version=v10", "split=test")
    assert (cfg.name, cfg.version, cfg.split, cfg.language) == ("mmbench_test_en_v10", "v10", "test", "en")
    assert compose(CONF / "mmbench_cn.yaml", "version=v10").name == "mmbench_dev_cn_v10"


def test_sample_config_is_the_schema_default():
    assert compose(CONF / "mme_realworld_sample.yaml").name == BenchmarkConfig().name == "mme_realworld_sample"


@pytest.mark.parametrize("kind", ["mme_realworld", "mmbench"])
def test_every_declared_layout_has_a_loader_in_the_benchmark_folder(kind):
    import importlib

    layouts = importlib.import_module(f"awaker_eval.tasks.{kind}.layouts").LAYOUTS
    assert tuple(layouts) == get_benchmark(kind).layouts
