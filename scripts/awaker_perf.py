"""Awaker port performance on the tiny golden fixture: load time / peak RSS (.bin vs converted safetensors) and
the forward-pass overhead of the adapters relative to plain Qwen2-VL with the same base weights.

    python scripts/awaker_perf.py [GOLDEN_DIR] [--repeats 30] [--threads 1]

Each load runs in a fresh subprocess so peak RSS is per load; numbers are printed, nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOAD_CHILD = """
import json, resource, sys, time, torch
torch.set_num_threads(1)
from awaker_eval.models.awaker.build import build_awaker, load_config
from awaker_eval.models.awaker.checkpoint import read_checkpoint
from awaker_eval.models.awaker.settings import AdapterSettings
root, ckpt, dtype = sys.argv[1:4]
cfg, st = load_config(root + "/config.json"), AdapterSettings.from_json(root + "/adapter.json")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
state = read_checkpoint(ckpt)
t1 = time.perf_counter()
model, _ = build_awaker(cfg, st, state, dtype=dtype)
t2 = time.perf_counter()
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"read_s": t1 - t0, "build_s": t2 - t1, "peak_rss_delta_mib": (after - before) / 1024}))
"""


def measure_load(root: Path, ckpt: Path, dtype: str, repeats: int) -> dict:
    runs = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", LOAD_CHILD, str(root), str(ckpt), dtype],
                             capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {k: min(r[k] for r in runs) for k in runs[0]}


def forward_overhead(root: Path, repeats: int) -> dict:
    import torch
    from transformers import Qwen2VLForConditionalGeneration

    from awaker_eval.models.awaker.build import build_awaker, load_config, recreate_rotary_buffers
    from awaker_eval.models.awaker.checkpoint import read_checkpoint
    from awaker_eval.models.awaker.golden_checks import mm_token_types
    from awaker_eval.models.awaker.golden_io import load_fixture

    fixture = load_fixture(root)
    state = read_checkpoint(fixture.checkpoint)
    config = load_config(fixture.config)
    results = {}
    for dtype_name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
        awaker, routing = build_awaker(load_config(fixture.config), fixture.adapter, state, dtype=dtype_name)
        config._attn_implementation = "sdpa"
        with torch.device("meta"):
            plain = Qwen2VLForConditionalGeneration(config).eval()
        base = {k: v.to(dtype) for k, v in state.items() if ".lora_" not in k and ".w_gate." not in k
                and not k.endswith(".ln.weight")}
        plain.load_state_dict(base, strict=True, assign=True)
        recreate_rotary_buffers(plain, torch.device("cpu"))
        for case in (c for c in fixture.cases if c.name in ("s0_img", "batch")):
            t = case.tensors
            kw = dict(input_ids=t["input_ids"], attention_mask=t["attention_mask"], pixel_values=t["pixel_values"],
                      image_grid_thw=t["image_grid_thw"], mm_token_type_ids=mm_token_types(t["input_ids"], config))

            def timed(call) -> float:
                with torch.no_grad():
                    call()
                    best = float("inf")
                    for _ in range(repeats):
                        t0 = time.perf_counter()
                        call()
                        best = min(best, time.perf_counter() - t0)
                return best

            def run_awaker():
                with routing.session(t["input_ids"], t["prompt_pos"]):
                    awaker(**kw)

            a, p = timed(run_awaker), timed(lambda: plain(**kw))
            results[f"{dtype_name}/{case.name}"] = {"plain_ms": p * 1e3, "awaker_ms": a * 1e3, "overhead": a / p - 1}
    return results


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("golden", nargs="?", default=str(Path(__file__).resolve().parents[2] / "shared" / "awaker_golden"))
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--load-repeats", type=int, default=3)
    args = ap.parse_args(argv)
    import torch

    from awaker_eval.models.awaker.convert import convert

    torch.set_num_threads(1)
    root = Path(args.golden)
    with tempfile.TemporaryDirectory() as tmp:
        convert(root / "awaker_tiny.bin", Path(tmp) / "st", max_shard_size="300KB")
        print("load (best of %d fresh processes; peak RSS growth during read+build)" % args.load_repeats)
        for label, ckpt in (("bin", root / "awaker_tiny.bin"), ("safetensors", Path(tmp) / "st")):
            for dtype in ("float32", "bfloat16"):
                r = measure_load(root, ckpt, dtype, args.load_repeats)
                print(f"  {label:<12} {dtype:<9} read {r['read_s'] * 1e3:7.1f} ms  build {r['build_s'] * 1e3:7.1f} ms"
                      f"  peak RSS +{r['peak_rss_delta_mib']:.1f} MiB")
    print(f"forward pass, best of {args.repeats} (1 thread, CPU)")
    for key, r in forward_overhead(root, args.repeats).items():
        print(f"  {key:<16} plain {r['plain_ms']:7.2f} ms  awaker {r['awaker_ms']:7.2f} ms  "
              f"overhead {r['overhead'] * 100:+.0f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
