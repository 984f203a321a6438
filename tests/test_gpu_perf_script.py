"""The GPU benchmark script's dry run (tiny shape, CPU): its report has every field the GPU run fills in."""

from __future__ import annotations

import json
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def test_dry_run_reports_rates_agreement_and_vision_counters(tiny_cache_dir, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPTS))
    import gpu_perf_awaker7b

    out = tmp_path / "perf.json"
    assert gpu_perf_awaker7b.main(["--tiny", "--cache-dir", str(tiny_cache_dir), "--out", str(out),
                                   "--only", "epilogue,loop_choice,choice,choice_no_reuse"]) == 0
    report = json.loads(out.read_text())
    assert report["workload"]["questions"] == 6 and report["workload"]["images"] == 3
    assert report["attention"] == {"llm": "sdpa", "vision": "sdpa"}
    stages = report["stages"]
    assert set(stages) == {"epilogue", "loop_choice", "choice", "choice_no_reuse"}
    assert stages["epilogue"]["bit_equal"] is True and stages["epilogue"]["kernel"] == "torch-reference"
    assert stages["choice"]["vision"] == {"vision_images_encoded": 3, "vision_images_reused": 3}
    assert stages["choice_no_reuse"]["vision"] == {"vision_images_encoded": 6, "vision_images_reused": 0}
    for name in ("choice", "choice_no_reuse"):
        assert stages[name]["same_answer"] == "6/6" and stages[name]["same_routing"] == "6/6"
        assert stages[name]["max_logprob_diff"] < 1e-5 and stages[name]["samples_per_s"] > 0
    assert report["projection"]["full_en_run_h_choice"] > 0
    sys.modules.pop("gpu_perf_awaker7b", None)
    sys.modules.pop("awaker7b_setup", None)
