"""Fine-tuned PEFT adapters in the gate: a LoRA made here with ``peft`` for the tiny Qwen2-VL.

A zero-initialised adapter (LoRA B = 0) must give exactly the base model's outputs while still being recorded;
a perturbed one changes them, and ``compare`` labels and sees the fine-tune.
"""

from __future__ import annotations

import json

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from awaker_eval.app import CONF_DIR
from awaker_eval.config.schema import ModelConfig, RunConfig, register_configs
from awaker_eval.engine.store import read_jsonl_predictions
from awaker_eval.models.factory import check_model_config
from awaker_eval.models.tiny import ensure_tiny_checkpoint
from awaker_eval.pipeline import evaluate
from awaker_eval.report import compare_cli


def _make_adapters(base_dir, out_root):
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen2VLForConditionalGeneration

    paths = {}
    for name, scale in (("zero_lora", 0.0), ("perturbed_lora", 0.5)):
        base = Qwen2VLForConditionalGeneration.from_pretrained(base_dir, dtype=torch.float32)
        peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
        torch.manual_seed(0)
        with torch.no_grad():
            for pname, param in peft_model.named_parameters():
                if "lora_B" in pname:
                    param.copy_(scale * torch.randn_like(param))  # peft initialises B to 0: a no-op adapter
        peft_model.save_pretrained(out_root / name)
        paths[name] = out_root / name
    return paths


def _cfg(tmp_path, cache, *extra: str) -> RunConfig:
    register_configs()
    overrides = [f"results_root={tmp_path / 'results'}", f"model.cache_dir={cache}",
                 f"benchmark.cache_dir={tmp_path / 'data'}", "runner.progress=false", "runner.bootstrap_samples=50",
                 "benchmark.limit=8", "benchmark.max_new_tokens=6", *extra]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return OmegaConf.to_object(compose("config", overrides=overrides))


@pytest.fixture(scope="module")
def adapter_runs(tmp_path_factory, tiny_cache_dir):
    tmp_path = tmp_path_factory.mktemp("peft")
    adapters = _make_adapters(ensure_tiny_checkpoint(tiny_cache_dir), tmp_path)
    runs = {"base": evaluate(_cfg(tmp_path, tiny_cache_dir))}
    for name, path in adapters.items():
        runs[name] = evaluate(_cfg(tmp_path, tiny_cache_dir, f"model.adapter={path}"))
    return adapters, runs


def _outputs(run_dir):
    return {p.id: p.raw_output for p in read_jsonl_predictions(run_dir / "predictions.jsonl")}


def test_zero_adapter_gives_base_outputs_and_is_recorded(adapter_runs):
    adapters, runs = adapter_runs
    assert runs["zero_lora"] != runs["base"]  # a different model: its own run directory, never a reused one
    assert _outputs(runs["zero_lora"]) == _outputs(runs["base"])  # B = 0: the merged weights are the base's
    meta = json.loads((runs["zero_lora"] / "run.json").read_text())
    recorded = meta["model_fingerprint"]["adapter"]
    assert recorded["path"] == str(adapters["zero_lora"]) and len(recorded["weights_sha256"]) == 16
    assert recorded["config"]["r"] == 4 and sorted(recorded["config"]["target_modules"]) == ["q_proj", "v_proj"]
    base_meta = json.loads((runs["base"] / "run.json").read_text())
    assert "adapter" not in base_meta["model_fingerprint"]  # base fingerprints unchanged by the feature


def test_perturbed_adapter_changes_outputs_and_compare_names_it(adapter_runs, capsys):
    adapters, runs = adapter_runs
    base, pert = _outputs(runs["base"]), _outputs(runs["perturbed_lora"])
    assert base.keys() == pert.keys() and sum(base[k] != pert[k] for k in base) >= 1
    fps = {json.loads((runs[n] / "run.json").read_text())["model_fingerprint"]["adapter"]["weights_sha256"]
           for n in ("zero_lora", "perturbed_lora")}
    assert len(fps) == 2  # the weights hash tells the two fine-tunes apart
    assert compare_cli.main([str(runs["base"]), str(runs["perturbed_lora"]), "--max-drop", "100",
                             "--n-boot", "100"]) == 0
    out = capsys.readouterr().out
    assert f"new:  {runs['perturbed_lora']} (tiny+perturbed_lora)" in out and "units matched: 8" in out


def test_adapter_settings_fail_before_loading(tmp_path):
    (tmp_path / "empty").mkdir()
    bad = [(ModelConfig(kind="tiny", adapter=str(tmp_path / "empty")), "has no adapter_config.json"),
           (ModelConfig(kind="qwen2_vl", path="Qwen/Qwen2-VL-2B-Instruct", adapter="org/lora"),
            "pin it with model.adapter_revision"),
           (ModelConfig(kind="awaker2_5_vl", adapter=str(tmp_path)), "applies to a Qwen2-VL base"),
           (ModelConfig(kind="tiny", adapter_revision="abc"), "model.adapter is not")]
    for cfg, message in bad:
        with pytest.raises(ValueError, match=message):
            check_model_config(cfg)
