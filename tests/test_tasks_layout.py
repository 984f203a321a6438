"""The layout the Benchmark contract promises: core stages hold no benchmark kind names (so no ``kind ==
"..."`` branches and no per-kind tables); the benchmark objects answer for sources, tables and group labels."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from awaker_eval.data.errors import DataError
from awaker_eval.data.sources import default_source
from awaker_eval.config.schema import BenchmarkConfig
from awaker_eval.report.published import published_tables
from awaker_eval.tasks.registry import BUILTIN, get_benchmark
from awaker_eval.tasks.registry import in_registration_order

PACKAGE = Path(__file__).resolve().parents[1] / "awaker_eval"
CORE = [*(PACKAGE / d for d in ("data", "prompts", "extract", "score", "report")), PACKAGE / "prepare.py",
        PACKAGE / "preflight.py", PACKAGE / "pipeline.py", PACKAGE / "perf.py", PACKAGE / "run_outputs.py",
        PACKAGE / "export_submission.py", PACKAGE / "cli.py", PACKAGE / "sample_io.py",
        PACKAGE / "score_cli.py"]


def _core_files() -> list[Path]:
    return sorted(f for c in CORE for f in ([c] if c.is_file() else c.glob("*.py")))


@pytest.mark.parametrize("path", _core_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_core_stage_names_no_benchmark_kind(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    literals = [(n.lineno, n.value) for n in ast.walk(tree)
                if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in BUILTIN]
    assert literals == [], f"{path.name} names benchmark kinds (a `kind == ...` branch or table): {literals}"


def test_published_tables_come_from_the_benchmarks_in_registration_order():
    assert list(published_tables(in_registration_order())) == ["mme_realworld", "mme_realworld_cn", "mmbench", "mmbench_cn"]
    assert get_benchmark("mcq").published_tables() == () and get_benchmark("mcq").published_table("en") is None


def _default(cfg: BenchmarkConfig):
    return default_source(cfg, get_benchmark(cfg.kind))


def test_default_sources_are_asked_of_the_benchmark():
    mmb = BenchmarkConfig(kind="mmbench", layout="tsv", version="v11", split="dev", language="en")
    assert default_source(mmb, get_benchmark(mmb.kind)).source.endswith("/MMBench_DEV_EN_V11.tsv")
    lite = BenchmarkConfig(kind="mme_realworld", layout="parquet", variant="lite", language="en")
    assert default_source(lite, get_benchmark(lite.kind)).source == "yifanzhang114/MME-RealWorld-lite-lmms-eval"
    with pytest.raises(DataError, match=r"^benchmark.layout=tsv has no default source for mme_realworld \(en\): the "
                                        r"VLMEvalKit MME-RealWorld TSVs are built locally"):
        _default(BenchmarkConfig(kind="mme_realworld", layout="tsv", language="en"))
    with pytest.raises(DataError, match=r"^benchmark.layout=tsv has no default source for mcq \(en\): no published "
                                        r"release in this layout is known; set benchmark.source"):
        _default(BenchmarkConfig(kind="mcq", layout="tsv", language="en"))


def test_group_labels_are_the_benchmarks():
    assert get_benchmark("mmbench").group_label("l2_category", "CP") == "Coarse perception (CP)"
    assert get_benchmark("mme_realworld").group_label("subtask", "Reasoning/Remote_Sensing") == \
        "Remote Sensing (Reasoning)"
    assert get_benchmark("mcq").group_label("category", "coarse_perception/x") == "Coarse perception / x"
    assert get_benchmark("mcq").group_label("overall", "Overall") == "Overall"
