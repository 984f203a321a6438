"""scripts/check_real_awaker_checkpoint.py --dry-run: every report item on the offline tiny Awaker."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "check_real_awaker_checkpoint.py"


def _script():
    spec = importlib.util.spec_from_file_location("check_real_awaker_checkpoint", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dry_run_reports_keys_dtypes_ln_base_equality_params_and_generation(tiny_cache_dir, tmp_path, capsys):
    out_json = tmp_path / "report.json"
    argv = ["--dry-run", "--cache-dir", str(tiny_cache_dir), "--max-new-tokens", "3", "--json", str(out_json)]
    assert _script().main(argv) == 0
    report = json.loads(out_json.read_text())
    assert report["key_problems"] == {"missing keys": 0, "unexpected keys": 0, "mis-shaped tensors": 0}
    assert (report["keys"], report["params"], report["dtypes"]) == (162, 253_200, {"bfloat16": 162})
    assert report["dtypes_by_category"] == {
        "base": {"bfloat16": 58}, "experts": {"bfloat16": 64}, "global": {"bfloat16": 16},
        "qkv_lora": {"bfloat16": 12}, "router": {"bfloat16": 12}}
    assert report["router_ln"] == {"tensors": 4, "all_ones": 0}  # the tiny routers' ln is 1 + noise
    assert report["base_vs_reference"] == {"base_keys": 58, "equal": 58, "differ": [], "absent_from_base": []}
    gen = report["generation"]
    assert isinstance(gen["text"], str) and gen["routing"]["mode"] == "fork"
    assert len(gen["routing"]["prefill"]["expert"]) == 2
    printed = capsys.readouterr().out
    assert "base tensors equal to the base model's: 58 of 58" in printed and "parameters: 253,200" in printed
    assert "router ln.weight all ones: 0 of 4 tensors" in printed


def test_key_problems_are_reported_not_raised(tiny_cache_dir):
    import torch

    from awaker_eval.models.awaker.build import build_skeleton, load_config
    from awaker_eval.models.awaker.checkpoint import key_problems, read_checkpoint
    from awaker_eval.models.awaker.tiny import TINY_SETTINGS, tiny_awaker_paths

    base, ckpt = tiny_awaker_paths(tiny_cache_dir)
    state = dict(read_checkpoint(ckpt))
    state.pop("lm_head.weight")
    state["model.language_model.extra.weight"] = torch.zeros(1)
    state["model.language_model.norm.weight"] = torch.zeros(3)
    problems = key_problems(build_skeleton(load_config(base), TINY_SETTINGS), state)
    assert problems == {"missing keys": ["lm_head.weight"], "unexpected keys": ["model.language_model.extra.weight"],
                        "mis-shaped tensors": ["model.language_model.norm.weight [3] != model [64]"]}
