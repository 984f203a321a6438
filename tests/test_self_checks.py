"""Run-start self-checks (models/self_checks.py): every enabled fast path proves itself on the run's device, dtype and
weights before the first batch; a deliberately wrong path is caught, switched off (fallback) with predictions equal
to the reference path's, or stops the run before anything is predicted (strict)."""

from __future__ import annotations

import json

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from awaker_eval.app import CONF_DIR
from awaker_eval.config.schema import RunConfig, register_configs
from awaker_eval.models.awaker import adapters
from awaker_eval.models.self_checks import Probe, SelfCheck, SelfCheckFailed, run_self_checks
from awaker_eval.models.vision_reuse import VisionFeatureCache
from awaker_eval.pipeline import evaluate
from awaker_eval.user_errors import run_reported

GENERATE_CHECKS = ["vision_attention_batched", "vision_reuse", "fused_epilogue", "routing_once_per_call"]


def _cfg(out, cache_dir, data_dir, *extra: str) -> RunConfig:
    register_configs()
    overrides = ["model=awaker_tiny", f"output_dir={out}", f"model.cache_dir={cache_dir}",
                 f"benchmark.cache_dir={data_dir}", "benchmark.limit=12", "benchmark.max_new_tokens=6",
                 "model.device=cpu", "runner.progress=false", "runner.bootstrap_samples=50", "runner.batch_size=4",
                 *extra]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return OmegaConf.to_object(compose("config", overrides=overrides))


def _outputs(run_dir) -> list[tuple]:
    rows = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
    return [(r["id"], r["raw_output"], json.dumps(r["routing"], sort_keys=True)) for r in rows]


def _checks(run_dir) -> list[dict]:
    return json.loads((run_dir / "run.json").read_text())["engine"]["self_checks"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, tiny_cache_dir):
    tmp = tmp_path_factory.mktemp("self_checks")
    reference = evaluate(_cfg(tmp / "reference", tiny_cache_dir, tmp / "data"))
    return tmp, tiny_cache_dir, reference


def test_every_enabled_path_is_checked_and_passes_on_the_cpu(workdir):
    tmp, cache, reference = workdir
    records = _checks(reference)
    assert [r["name"] for r in records] == GENERATE_CHECKS
    assert all(r["verdict"] == "pass" and r["fallback"] is None and r["device"] == "cpu" for r in records)
    assert all(r["dtype"] == "float32" and r["max_abs_diff"] == 0.0 == r["tolerance"] for r in records)
    epilogue = records[2]
    assert epilogue["shapes"]["modules"] == ["self_attn.q_proj 64->64", "self_attn.k_proj 64->32",
                                             "self_attn.o_proj 64->64", "mlp.gate_proj 64->128",
                                             "mlp.down_proj 128->64"]
    assert epilogue["detail"] == "kernel torch-reference"
    assert records[0]["shapes"] == {"segments": 2, "tokens": 1024, "heads": 2, "head_dim": 16}
    assert 'id="self-checks"' not in (reference / "report.html").read_text()


def test_choice_right_padding_generate_right_padding_and_fast_mode_are_checked(workdir):
    tmp, cache, _ = workdir
    choice = evaluate(_cfg(tmp / "choice", cache, tmp / "data", "runner.mode=choice",
                           "model.adapter_dtype_mode=fast"))
    names = {r["name"]: r for r in _checks(choice)}
    assert list(names) == ["adapter_dtype_mode_fast", "vision_attention_batched", "vision_reuse",
                           "routing_once_per_call", "choice_right_padding"]  # fast mode runs no epilogue
    assert all(r["verdict"] == "pass" for r in names.values())
    fast = names["adapter_dtype_mode_fast"]
    assert 0 < fast["max_abs_diff"] <= fast["tolerance"]  # rounds differently, within its documented bound
    generate = evaluate(_cfg(tmp / "gen_right", cache, tmp / "data", "model.generate_padding=right"))
    assert [r["name"] for r in _checks(generate)] == GENERATE_CHECKS + ["generate_right_padding"]
    assert all(r["verdict"] == "pass" for r in _checks(generate))


def test_off_records_every_path_as_off_and_the_report_says_so(workdir):
    tmp, cache, reference = workdir
    off = evaluate(_cfg(tmp / "off", cache, tmp / "data", "runner.self_check=off"))
    assert [(r["name"], r["verdict"], r["seconds"]) for r in _checks(off)] == [(n, "off", 0.0) for n in GENERATE_CHECKS]
    assert _outputs(off) == _outputs(reference)
    assert "runner.self_check=off: the fast paths ran without their run-start checks" in (off / "report.html").read_text()


def _perturbed(base, glob, scaling, out_dtype, expert=None, p=None):
    return adapters_reference(base, glob, scaling, out_dtype, expert, p) + 0.5


def _failed_compile(*args, **kwargs):
    raise RuntimeError("triton compile failed: no C compiler")


adapters_reference = adapters.fused_epilogue


@pytest.mark.parametrize("double, verdict, detail", [
    (_perturbed, "fail", None),
    (_failed_compile, "error", "RuntimeError: triton compile failed: no C compiler"),
])
def test_a_wrong_fused_epilogue_falls_back_to_identical_predictions(workdir, monkeypatch, capsys, double, verdict,
                                                                    detail):
    tmp, cache, reference = workdir
    monkeypatch.setattr(adapters, "fused_epilogue", double)
    run = evaluate(_cfg(tmp / f"epilogue_{verdict}", cache, tmp / "data"))
    record = next(r for r in _checks(run) if r["name"] == "fused_epilogue")
    assert record["verdict"] == verdict and record["fallback"] == "the unfused adapter epilogue (spec-literal, torch)"
    if detail:
        assert record["detail"] == detail
    else:
        assert record["max_abs_diff"] == pytest.approx(0.5, abs=1e-5) and record["tolerance"] == 0.0
    assert _outputs(run) == _outputs(reference)  # the reference path ran
    out = capsys.readouterr().out
    assert "self-check fused_epilogue failed on cpu float32" in out and "switched off for this run" in out
    assert 'id="self-checks"' in (run / "report.html").read_text()


def test_strict_exits_2_before_any_prediction(workdir, monkeypatch, capsys):
    tmp, cache, _ = workdir
    monkeypatch.setattr(adapters, "fused_epilogue", _failed_compile)
    out = tmp / "strict"
    code = run_reported(lambda: evaluate(_cfg(out, cache, tmp / "data", "runner.self_check=strict")))
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: self-check fused_epilogue failed on cpu float32: raised RuntimeError: triton compile failed: no C "
        "compiler (runner.self_check=strict)")
    assert not (out / "predictions.jsonl").exists() and not list(out.glob("shards/*.jsonl"))


def test_a_cache_that_returns_another_images_features_turns_reuse_off(workdir, monkeypatch):
    tmp, cache, reference = workdir
    honest = VisionFeatureCache.features

    def stale(self, encode_one, pixel_values, grid_thw, digests):
        feats = honest(self, encode_one, pixel_values, grid_thw, digests)
        entries = list(self._entries.values())
        return tuple(entries[0] if self.reuse and entries and f.shape == entries[0].shape else f for f in feats)

    monkeypatch.setattr(VisionFeatureCache, "features", stale)
    run = evaluate(_cfg(tmp / "stale_reuse", cache, tmp / "data"))
    record = next(r for r in _checks(run) if r["name"] == "vision_reuse")
    assert record["verdict"] == "fail" and record["max_abs_diff"] > 0
    assert record["fallback"] == "every image occurrence encoded (runner.reuse_vision off)"
    meta = json.loads((run / "run.json").read_text())["engine"]
    assert meta["vision_images_reused"] == 0
    assert _outputs(run) == _outputs(reference)


def test_policies_in_isolation():
    calls = []

    def check(name, diff, raises=False):
        def probe():
            if raises:
                raise ValueError("boom")
            return Probe(diff, 0.0)
        return SelfCheck(name, "cpu", "float32", probe, lambda: calls.append(name) or f"{name} off",
                         adopt=lambda: calls.append(f"adopt {name}"))

    records = run_self_checks([check("a", 0.0), check("b", 1.0), check("c", 0.0, raises=True)], "fallback")
    assert [(r.name, r.verdict, r.fallback) for r in records] == [("a", "pass", None), ("b", "fail", "b off"),
                                                                  ("c", "error", "c off")]
    assert records[2].detail == "ValueError: boom" and calls == ["adopt a", "b", "c"]
    assert [r.verdict for r in run_self_checks([check("d", 1.0)], "off")] == ["off"] and calls[-1] == "adopt d"
    with pytest.raises(SelfCheckFailed, match=r"self-check e failed on cpu float32: max \|diff\| 1 > tolerance 0"):
        run_self_checks([check("e", 1.0)], "strict")
    assert Probe(float("nan"), 1.0).passed is False
    with pytest.raises(ValueError, match="runner.self_check='maybe'"):
        run_self_checks([], "maybe")
    assert torch.get_num_threads() >= 1


def test_a_wrong_right_padding_falls_back_to_left_and_the_fingerprint_says_left(workdir, monkeypatch):
    """Fallback changes what runs, so the predictions carry the fingerprint of what ran: equal, byte for byte in
    their scores and fingerprints, to a run asked for ``model.choice_padding=left``."""
    from awaker_eval.models import qwen2_vl

    tmp, cache, _ = workdir
    left = evaluate(_cfg(tmp / "choice_left", cache, tmp / "data", "runner.mode=choice", "model.choice_padding=left"))
    honest = qwen2_vl.right_padded
    monkeypatch.setattr(qwen2_vl, "right_padded", lambda batch: {k: v.flip(0) if k == "input_ids" else v
                                                                 for k, v in honest(batch).items()})
    run = evaluate(_cfg(tmp / "choice_fallback", cache, tmp / "data", "runner.mode=choice"))
    record = next(r for r in _checks(run) if r["name"] == "choice_right_padding")
    assert record["verdict"] in ("fail", "error") and record["fallback"].startswith("model.choice_padding=left")
    rows = {d.name: [json.loads(x) for x in (d / "predictions.jsonl").read_text().splitlines()] for d in (left, run)}
    keep = ("id", "extracted", "choice_logprobs", "protocol_fp", "model_fp", "routing")
    assert [{k: r.get(k) for k in keep} for r in rows[run.name]] == [{k: r.get(k) for k in keep} for r in rows[left.name]]
