"""Leaderboard notes name the benchmark a run belongs to and judge 'official' by that benchmark's own defaults."""

from __future__ import annotations

from awaker_eval.config.schema import BenchmarkConfig
from awaker_eval.report.leaderboard import render_leaderboard
from awaker_eval.tasks.registry import get_benchmark

SCORES = {"overall": 0.5, "n_questions": 3, "ci": {"overall": [0.2, 0.8]}}


def _notes(**bench) -> list[str]:
    table = render_leaderboard(SCORES, "tiny", BenchmarkConfig(**bench), get_benchmark(bench.get("kind", "mme_realworld")))
    return [line for line in table.splitlines() if "differ from the official ones" in line]


def test_mmbench_default_extractor_is_its_official_one():
    assert _notes(name="mmbench_dev_en_v11", kind="mmbench", version="v11", split="dev", protocol="official",
                  extractor="can_infer_2024") == []


def test_a_differing_protocol_names_the_runs_own_published_table():
    assert _notes(name="mmbench_cn_dev_v11", kind="mmbench", language="cn", version="v11", split="dev",
                  protocol="vlmevalkit_default", extractor="can_infer_head") == [
        "- tiny: prompt protocol 'vlmevalkit_default' / extractor 'can_infer_head' differ from the official ones "
        "behind the published MMBench-CN rows."]
    assert _notes(name="mme_realworld", kind="mme_realworld", protocol="lmms_eval", extractor="official") == [
        "- tiny: prompt protocol 'lmms_eval' / extractor 'official' differ from the official ones behind the "
        "published MME-RealWorld rows."]
