"""What the run-start self-checks cost: measured on the tiny Awaker (CPU), modelled at the real 7B shape.

The issue-18 target is at most 1% of a full MME-RealWorld run at the 7B shape. The CPU part times
``run_self_checks`` (fallback policy, generate and choice modes) and the demo's engine time beside it. The 7B part
counts the probes' model calls and tokens from the check code's own constants and the real shapes (Qwen2-VL-7B:
7.6e9 LLM parameters, a 675M-parameter vision tower) and prices them two ways: FLOPs at the measured 262 TFLOP/s
prefill rate of the earlier H200 benchmark, and a latency floor of 20 ms per model call (small batches are
latency-bound); the larger is the estimate. The full EN run is 23,609 questions; its time comes from
``--samples-per-s`` (default: the earlier measured 0.82 samples/s at the 7B shape, a pessimistic rate that makes
the run long and the ratio small; pass a new GPU measurement when one exists).

  python scripts/bench_self_checks.py [--samples-per-s 3.3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from awaker_eval.config.schema import ModelConfig
from awaker_eval.models.base import GenerationSettings
from awaker_eval.models.factory import build_model
from awaker_eval.models.probe_inputs import REUSE_PROBE_GRIDS, VISION_PROBE_TOKENS
from awaker_eval.models.self_checks import run_self_checks

LLM_PARAMS_7B, VISION_PARAMS_7B = 7.6e9, 0.675e9
PREFILL_FLOPS_PER_S = 262e12  # measured at the 7B shape on an H200 (README, Performance)
CALL_LATENCY_S = 0.020
EN_QUESTIONS = 23609
PROBE_PROMPT_TOKENS = 3 * 60 + 2 * 16  # three probe prompts (~60 text tokens each) and two small images


def cpu_seconds(repeats: int) -> dict[str, float]:
    """Median seconds of the whole set on the tiny Awaker (fp32, CPU), per mode."""
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        for mode in ("generate", "choice"):
            cfg = ModelConfig(name="awaker_tiny", kind="awaker2_5_vl", checkpoint="tiny", dtype="float32",
                              device="cpu", cache_dir=cache)
            times = []
            for _ in range(repeats):
                model = build_model(cfg)
                t0 = time.perf_counter()
                run_self_checks(model.self_checks(mode, True, GenerationSettings(max_new_tokens=16)), "fallback")
                times.append(time.perf_counter() - t0)
            out[mode] = statistics.median(times)
    return out


def model_7b() -> dict[str, float]:
    """Calls, FLOPs and the estimated seconds of the generate-mode set (the choice set is smaller) at 7B."""
    patches = sum(t * h * w for t, h, w in REUSE_PROBE_GRIDS) / len(REUSE_PROBE_GRIDS)
    encodes = 5 + 5  # five occurrences through the cache (three encoded) and five fresh reference encodes
    vision_flops = 2 * VISION_PARAMS_7B * patches * encodes
    attention_flops = 2 * 2 * (4 * 1280 ** 2 * 2 * VISION_PROBE_TOKENS + 2 * 2 * VISION_PROBE_TOKENS ** 2 * 1280)
    generate = lambda tokens: 2 * LLM_PARAMS_7B * (PROBE_PROMPT_TOKENS + 3 * tokens)  # noqa: E731
    llm_flops = 2 * generate(3) + 2 * generate(4)  # routing (2 x 3 tokens) and right padding (2 x 4 tokens)
    calls = 2 * 3 + 2 * 4 + encodes + 2
    flops = vision_flops + attention_flops + llm_flops
    seconds = max(flops / PREFILL_FLOPS_PER_S, calls * CALL_LATENCY_S)
    return {"flops": flops, "calls": calls, "seconds": seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples-per-s", type=float, default=0.82)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    cpu = cpu_seconds(args.repeats)
    big = model_7b()
    full_run_s = EN_QUESTIONS / args.samples_per_s
    print(f"tiny Awaker, CPU, 1 thread: self-checks {cpu['generate']:.3f} s (generate), {cpu['choice']:.3f} s "
          f"(choice), median of {args.repeats}")
    print(f"7B shape (modelled): {big['calls']} model calls, {big['flops']:.2e} FLOPs -> {big['seconds']:.2f} s; "
          f"full EN run at {args.samples_per_s} samples/s = {full_run_s / 3600:.1f} h; "
          f"self-checks = {100 * big['seconds'] / full_run_s:.4f}% of it (target <= 1%)")


if __name__ == "__main__":
    main()
