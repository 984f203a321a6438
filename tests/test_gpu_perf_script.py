"""The GPU benchmark script's dry run (tiny shape, CPU): its report has every field the GPU run fills in."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
SCRIPT_MODULES = ("gpu_perf_awaker7b", "awaker7b_setup", "host_reads", "perf_switches")


@pytest.fixture
def dry_run(tiny_cache_dir, tmp_path, monkeypatch):
    """``dry_run(*args) -> (script module, report)``: the script's ``--tiny`` run with ``args``; its modules are
    unloaded afterwards so every test imports them fresh."""
    monkeypatch.syspath_prepend(str(SCRIPTS))
    import gpu_perf_awaker7b

    def run(*args: str):
        out = tmp_path / "perf.json"
        assert gpu_perf_awaker7b.main(["--tiny", "--cache-dir", str(tiny_cache_dir), "--out", str(out), *args]) == 0
        return gpu_perf_awaker7b, json.loads(out.read_text())

    yield run
    for name in SCRIPT_MODULES:
        sys.modules.pop(name, None)


def test_dry_run_reports_rates_agreement_and_vision_counters(dry_run):
    _, report = dry_run("--only", "epilogue,loop_choice,choice,choice_no_reuse,choice_left_padding,"
                        "choice_stock_vision_attention,loop_gen2,gen2,gen2_right_padding")
    assert report["workload"]["questions"] == 6 and report["workload"]["images"] == 3
    assert report["attention"] == {"llm": "sdpa", "vision": "sdpa"}
    stages = report["stages"]
    assert set(stages) == {"epilogue", "loop_choice", "choice", "choice_no_reuse", "choice_left_padding",
                           "choice_stock_vision_attention", "loop_gen2", "gen2", "gen2_right_padding"}
    for name in ("gen2", "gen2_right_padding"):  # the opt-in right-padded greedy loop: the loop's answers
        assert (stages[name]["same_answer"], stages[name]["same_routing"]) == ("6/6", "6/6")
    assert stages["gen2_right_padding"]["attention"]["llm_generate_prefill"] != stages["gen2"]["attention"][
        "llm_generate_prefill"]
    assert stages["epilogue"]["bit_equal"] is True and stages["epilogue"]["kernel"] == "torch-reference"
    assert stages["choice"]["vision"] == {"vision_images_encoded": 3, "vision_images_reused": 3}
    assert stages["choice_no_reuse"]["vision"] == {"vision_images_encoded": 6, "vision_images_reused": 0}
    for name in ("choice", "choice_no_reuse", "choice_left_padding", "choice_stock_vision_attention"):
        assert stages[name]["same_answer"] == "6/6" and stages[name]["same_routing"] == "6/6"
        assert stages[name]["max_logprob_diff"] < 1e-4 and stages[name]["samples_per_s"] > 0
    attention = {name: stages[name]["attention"] for name in stages if "attention" in stages[name]}
    assert attention["choice"]["vision_attention_calls"]["stock"] == 0  # cumulative counts: stock only later
    assert attention["choice_stock_vision_attention"]["vision_attention_calls"]["stock"] > 0
    assert attention["choice"]["llm_choice_prefill"].startswith("sdpa is_causal, no 4D mask")
    assert attention["choice_left_padding"]["llm_choice_prefill"].startswith("sdpa with a 4D padding mask")
    assert report["projection"]["full_en_run_h_choice"] > 0


def test_dry_run_fast_stage_reports_rate_beside_parity_and_agreement(dry_run):
    gpu_perf_awaker7b, report = dry_run("--only", "loop_choice,choice,agreement_parity,fast")
    stages = report["stages"]
    assert set(stages) == {"loop_choice", "choice", "agreement_parity", "fast"}
    fast = stages["fast"]
    assert fast["parity_samples_per_s"] == stages["choice"]["samples_per_s"] and fast["samples_per_s"] > 0
    assert fast["speedup_vs_parity"] == round(fast["samples_per_s"] / fast["parity_samples_per_s"], 3)
    assert (fast["same_answer"], fast["same_routing"]) == ("6/6", "6/6")  # against the parity loop
    agreement = fast["agreement_with_parity"]
    assert {k: agreement[k] for k in ("rows", "same_letters", "same_routing", "same_greedy_ids")} == {
        "rows": 4, "same_letters": 4, "same_routing": 4, "same_greedy_ids": 4}
    assert agreement["max_abs_logit_diff"] < 1e-4  # fp32 on CPU (measured 1.5e-7)
    assert [row[0] for row in gpu_perf_awaker7b.OPTIMISATIONS_OFF] == [
        "choice_no_reuse", "choice_unfused_epilogue", "gen16_routing_per_step", "choice_left_padding",
        "choice_stock_vision_attention"]


def test_stages_past_the_time_budget_are_recorded_as_skipped(dry_run):
    _, report = dry_run("--only", "epilogue,choice", "--budget-s", "0")
    stages = report["stages"]
    assert set(stages) == {"epilogue", "choice"}
    assert all(s["skipped"].startswith("time budget: ") and s["skipped"].endswith("budget 0 s")
               for s in stages.values())


def test_dry_run_counts_host_reads_per_switch(dry_run):
    """The host-read counts of one 2-question batch: the stock vision attention reads the segment lengths back in
    each block (3 ``tolist`` per block per image: 2 blocks x 2 images here), per-step routing reads each router's
    decision at every decode step; with everything on, choice mode reads no more than the left-padded path."""
    _, report = dry_run("--only", "host_reads")
    reads = report["stages"]["host_reads"]
    on = reads["all_on"]
    assert reads["questions"] == 2 and set(on) == {"choice", "generate_16"}
    assert all(c["device"] == 0 for row in reads.values() if isinstance(row, dict) for c in row.values())  # CPU
    stock = reads["choice_stock_vision_attention"]
    assert stock["choice"]["all"] - on["choice"]["all"] == 3 * 2 * 2
    assert stock["generate_16"]["all"] - on["generate_16"]["all"] == 3 * 2 * 2
    assert reads["gen16_routing_per_step"]["generate_16"]["all"] > on["generate_16"]["all"]
    assert reads["choice_left_padding"]["choice"]["all"] >= on["choice"]["all"]
    assert reads["choice_unfused_epilogue"] == on  # the epilogue reads nothing back in either form
