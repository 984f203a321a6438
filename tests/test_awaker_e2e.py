"""The offline tiny Awaker through the whole pipeline: routing records, expert heatmap, batch-size invariance."""

from __future__ import annotations

import json
from collections import Counter

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from awaker_eval.app import CONF_DIR
from awaker_eval.config.schema import RunConfig, register_configs
from awaker_eval.pipeline import evaluate
from awaker_eval.report import plots_cli

N = 12


def _cfg(root, cache_dir, data_dir, *extra: str) -> RunConfig:
    register_configs()
    overrides = [
        "model=awaker_tiny",
        f"results_root={root}",
        f"model.cache_dir={cache_dir}",
        f"benchmark.cache_dir={data_dir}",
        f"benchmark.limit={N}",
        "benchmark.max_new_tokens=6",
        "model.device=cpu",
        "runner.progress=false",
        "runner.bootstrap_samples=100",
        *extra,
    ]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return OmegaConf.to_object(compose("config", overrides=overrides))


def _predictions(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_cache_dir):
    tmp = tmp_path_factory.mktemp("awaker_e2e")
    data = tmp / "data"
    bs4 = evaluate(_cfg(tmp / "bs4", tiny_cache_dir, data, "runner.batch_size=4"))
    bs1 = evaluate(_cfg(tmp / "bs1", tiny_cache_dir, data, "runner.batch_size=1"))
    return bs4, bs1


def test_config_selects_the_offline_tiny_awaker(runs):
    cfg = OmegaConf.load(runs[0] / "config.yaml").model
    assert (cfg.kind, cfg.path, cfg.checkpoint, cfg.dtype) == ("awaker2_5_vl", None, "tiny", "float32")
    assert runs[0].parent.name == "awaker_tiny"


def test_every_prediction_carries_routing_and_several_experts_are_used(runs):
    preds = _predictions(runs[0])
    assert len(preds) == N and not any(p["error"] for p in preds)
    for p in preds:
        r = p["routing"]
        assert set(r) == {"mode", "routers", "prefill", "decode"}
        assert r["mode"] == "fork" and r["routers"] == ["self_attn.o_proj", "mlp.gate_proj"]
        assert len(r["prefill"]["expert"]) == 2 and all(0.25 < q < 1 for layer in r["prefill"]["p"] for q in layer)
        assert r["decode"] is None or len(r["decode"]["expert"]) == 2
    prefill = {json.dumps(p["routing"]["prefill"]["expert"]) for p in preds}
    assert len(prefill) > 1  # different samples route to different experts
    experts = {e for p in preds for phase in ("prefill", "decode") if p["routing"][phase]
               for layer in p["routing"][phase]["expert"] for e in layer}
    assert len(experts) > 1
    # fork mode: image prompts route differently at decode (raw embeddings) than at prefill (image features)
    assert any(p["routing"]["decode"] and p["routing"]["decode"] != p["routing"]["prefill"] for p in preds)


def _recount(preds: list[dict], phase: str = "prefill") -> Counter:
    counts: Counter = Counter()
    for p in preds:
        r = p["routing"]
        for layer, experts in enumerate(r[phase]["expert"]):
            for router, expert in zip(r["routers"], experts):
                counts[(p["subtask"], layer, router, expert)] += 1
    return counts


def test_expert_heatmap_counts_equal_a_recount_from_predictions(runs, tmp_path, capsys):
    preds = _predictions(runs[0])
    expected = _recount(preds)
    assert plots_cli.main([str(runs[0]), "--out", str(tmp_path), "--n-boot", "100"]) == 0
    assert "experts_" in capsys.readouterr().out
    (png,) = tmp_path.glob("experts_*_prefill.png")
    table = pd.read_csv(png.with_suffix(".csv"))
    got = Counter({(t, int(layer), r, int(e)): int(c)
                   for t, layer, r, e, c in table[["task", "layer", "router", "expert", "count"]].itertuples(index=False)})
    assert got == expected and sum(got.values()) == N * 2 * 2
    shares = table.groupby(["task", "layer", "router"])["share"].sum()
    assert shares.round(9).eq(1.0).all()
    # the run itself wrote the same heatmap data
    (own,) = (runs[0] / "plots").glob("experts_*_prefill.csv")
    assert pd.read_csv(own).equals(table)


def test_batch_size_one_equals_batch_size_four(runs):
    bs4, bs1 = (sorted(_predictions(r), key=lambda p: p["id"]) for r in runs)
    assert [p["id"] for p in bs4] == [p["id"] for p in bs1]
    assert [p["raw_output"] for p in bs4] == [p["raw_output"] for p in bs1]
    assert [p["routing"] for p in bs4] == [p["routing"] for p in bs1]
    assert len({p["raw_output"] for p in bs4}) > 1
    meta4, meta1 = (json.loads((r / "run.json").read_text()) for r in runs)
    assert meta4["model_fingerprint"] == meta1["model_fingerprint"]
