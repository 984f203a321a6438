"""The device check's core: the GPU facts every change needs, within 300 s of a lent H100/H200, so that a rerun
still fits the session's 15 device minutes (``scripts/gpu_checks.sh`` runs it after installing the bundle).

Steps, in order; each is timed (one ``time`` line), and the JSON report (``--out``) is written after each one. A step
that raises, or verify-golden reporting FAIL, stops the core: ``FAILED: <step>: <message>``, exit 1.
  golden_bf16, golden_fp32  verify-golden on the fixture copy (the CLI's own functions, in this process)
  build        Awaker2.5-VL at the real 7B shape with seeded random weights (scripts/awaker7b_setup.py)
  self_checks  every fast path against its reference on this device (``models.self_checks``, policy fallback):
               the records are kept whatever their verdict (a fallback is an outcome to report, not a failure)
  workload     the MME-RealWorld-like mix's images written (scripts/awaker7b_setup.py)
  warmup       a 4-question engine pass: CUDA context, Triton compile, allocator, DataLoader workers
  engine       the engine in the SHIPPED generate mode at the SHIPPED batch settings (conf/runner/gpu.yaml and
               conf/benchmark/mme_realworld.yaml) on an MME-RealWorld-like mix, sized from the warm-up's rate to
               fit the budget; samples/s and its projection to the full EN run (23,609 questions)
Peak GPU memory (``torch.cuda.max_memory_allocated``) per step and overall; peak host RSS of this process and of
its DataLoader workers (``resource.getrusage``).

  python scripts/device_core.py --golden .device/awaker_golden --out $OUT/device_core.json     # H100 / H200
  python scripts/device_core.py --tiny --device cpu --golden ../shared/awaker_golden --out /tmp/core.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import torch
import transformers
import yaml

from awaker7b_setup import build_random_awaker, workload
from awaker_eval.engine.runner import EngineSettings, run_inference
from awaker_eval.models.awaker.verify_golden import print_table, summarise, verify
from awaker_eval.models.base import GenerationSettings
from awaker_eval.models.fast_path_checks import padding_checks
from awaker_eval.models.self_checks import run_self_checks
from awaker_eval.models.tiny import default_cache_dir
from awaker_eval.sample_io import PredictionBuilder, SampleEncoder
from awaker_eval.tasks.registry import get_benchmark

REPO = Path(__file__).resolve().parents[1]
MME_REALWORLD_EN_QUESTIONS = 23609
WARMUP_IMAGES = 2  # 4 questions: one batch at the shipped settings
SELF_CHECK_POLICY = "fallback"  # the shipped runner.self_check default


class StepFailed(RuntimeError):
    """A core step's own verdict is a failure (verify-golden FAIL), as opposed to an exception inside it; its
    ``result`` (the failing rows) is recorded beside the error."""

    def __init__(self, message: str, result: dict):
        super().__init__(message)
        self.result = result


def parse_args(argv):
    """The options; ``--tiny`` picks the CPU dry run's defaults (3 images, CPU)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tiny", action="store_true", help="dry run at a tiny shape (use with --device cpu)")
    ap.add_argument("--device", default=None, help="cuda (default) | cpu (default with --tiny)")
    ap.add_argument("--golden", type=Path, default=Path(".device/awaker_golden"), help="golden fixture copy")
    ap.add_argument("--out", type=Path, default=Path("device_core.json"))
    ap.add_argument("--cache-dir", type=Path, default=None, help="tokenizer and workload images (default ~/.cache)")
    ap.add_argument("--budget-s", type=float, default=300.0, help="the core's time budget, install included")
    ap.add_argument("--started-at", type=float, default=None, help="when the check started (epoch seconds; "
                                                                     "default now): the budget counts from it")
    ap.add_argument("--install-s", type=float, default=0.0, help="seconds the bundle install took (its time line)")
    ap.add_argument("--images", type=int, default=None, help="most images of the engine mix (2 questions each; "
                                                             "default 32, tiny 3); fewer when the budget says so")
    args = ap.parse_args(argv)
    args.device = args.device or ("cpu" if args.tiny else "cuda")
    args.images = args.images or (3 if args.tiny else 32)
    return args


def shipped_settings(tiny: bool) -> tuple[EngineSettings, dict]:
    """The engine settings of a shipped GPU run of MME-RealWorld EN, read from the repository's own configs (so the
    check follows them when they change). The tiny dry run keeps them except one DataLoader worker and the
    processor's own pixel limits (the benchmark's minimum is far above the tiny model's maximum)."""
    runner = yaml.safe_load((REPO / "conf/runner/gpu.yaml").read_text())
    bench = yaml.safe_load((REPO / "conf/benchmark/mme_realworld.yaml").read_text())
    pixels = (None, None) if tiny else (bench["min_pixels"], bench["max_pixels"])
    settings = EngineSettings(
        mode=runner["mode"], batch_size=runner["batch_size"],
        max_batch_visual_tokens=runner["max_batch_visual_tokens"],
        num_workers=1 if tiny else runner["num_workers"], resume=False, progress=False,
        generation=GenerationSettings(max_new_tokens=bench["max_new_tokens"],
                                      repetition_penalty=runner["repetition_penalty"]),
        min_pixels=pixels[0], max_pixels=pixels[1], reuse_vision=runner["reuse_vision"])
    shown = {k: getattr(settings, k) for k in ("mode", "batch_size", "max_batch_visual_tokens", "num_workers",
                                               "reuse_vision", "min_pixels", "max_pixels")}
    return settings, {**shown, "max_new_tokens": settings.generation.max_new_tokens,
                      "protocol": bench["protocol"]}


def peak_rss_gib() -> dict[str, float]:
    """Peak resident memory so far of this process and of its largest finished child (a DataLoader worker)."""
    to_gib = 1 / 2**20  # ru_maxrss is in KiB on Linux
    return {"self": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * to_gib, 2),
            "children": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * to_gib, 2)}


class Core:
    """The report and the clock: ``step`` runs one step, times it, records its peak memory and saves the report."""

    def __init__(self, args):
        self.args, self.cuda = args, args.device.startswith("cuda")
        self.t0 = args.started_at or time.time()  # the install, the interpreter's start and the imports count too
        name = torch.cuda.get_device_name(0) if self.cuda else "cpu"
        self.report = {"device": name, "shape": "tiny" if args.tiny else "7b", "budget_s": args.budget_s,
                       "torch": torch.__version__, "transformers": transformers.__version__,
                       "python": sys.version.split()[0], "status": "running",
                       "steps": {"install": {"seconds": round(args.install_s, 1)}}}
        self.time_line("install", args.install_s)

    def elapsed(self) -> float:
        return time.time() - self.t0

    def save(self) -> None:
        self.report["core_s"] = round(self.elapsed(), 1)
        self.report["peak_rss_gib"] = peak_rss_gib()
        self.args.out.parent.mkdir(parents=True, exist_ok=True)
        self.args.out.write_text(json.dumps(self.report, indent=2, default=str) + "\n")

    def time_line(self, name: str, seconds: float) -> None:
        print(f"time {name:<12} {seconds:7.1f} s   core {self.elapsed():6.1f} s of {self.args.budget_s:.0f} s",
              flush=True)

    def step(self, name: str, fn):
        """Run ``fn`` as step ``name``; an exception or a StepFailed is recorded, then re-raised to stop the core."""
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        try:
            result = fn()
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:1000]
            self.report["steps"][name] = {**getattr(exc, "result", {}), "error": error,
                                          "seconds": round(time.perf_counter() - start, 1)}
            self.report["status"] = f"failed: {name}"
            self.save()
            raise
        if self.cuda:
            torch.cuda.synchronize()
            result["peak_gpu_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
            self.report["peak_gpu_gib"] = max(self.report.get("peak_gpu_gib", 0.0), result["peak_gpu_gib"])
        result["seconds"] = round(time.perf_counter() - start, 1)
        self.report["steps"][name] = result
        self.save()
        self.time_line(name, result["seconds"])
        return result


def golden(args, dtype: str) -> dict:
    """verify-golden for one dtype on the device: the CLI's summary table printed, its rows recorded; FAIL (any
    check outside the fixture's tolerances) stops the core, as the CLI's exit code 1 would."""
    rows, substituted = verify(str(args.golden), [dtype], args.device, "sdpa")
    print_table(rows)
    keys = ("run", "check", "cases", "value", "tolerance", "worst_case", "ok")
    failed = sum(not r.ok for r in rows)
    result = {"verdict": "PASS" if rows and not failed else "FAIL", "checks": len(rows), "failed": failed,
              "summary": [dict(zip(keys, row)) for row in summarise(rows)]}
    if substituted:
        result["with_fixture_image_features"] = [dict(zip(keys, row)) for row in summarise(substituted)]
    if result["verdict"] != "PASS":
        raise StepFailed(f"verify-golden {dtype}: {failed} of {len(rows)} checks failed", result)
    return result


def build(core: Core, cache: Path) -> dict:
    """The model every later step uses, through the package's own builder (seeded random weights: no download)."""
    model, config, _ = build_random_awaker(core.report["shape"], core.args.device, cache)
    core.model = model
    params = sum(p.numel() for p in model.hf_model.parameters())
    return {"parameters": params, "build_s": round(model.build_s, 1),
            "attention": {"llm": config._attn_implementation,
                          "vision": getattr(config.vision_config, "_attn_implementation", None)}}


def self_checks(model) -> dict:
    """Every self-check at this shape under the shipped policy: the generate-mode set (vision attention, vision
    reuse, fused epilogue, routing), then the choice-mode and the opt-in right-padded generate paths (each compared
    with its left-padded reference); the engine steps after it keep the shipped generate setting. A failing path
    falls back as in a shipped run, and its record says so."""
    generation = GenerationSettings(max_new_tokens=16)
    records = run_self_checks(model.self_checks("generate", True, generation), SELF_CHECK_POLICY)
    records += run_self_checks(padding_checks(model, "choice", generation), SELF_CHECK_POLICY)
    shipped = model.cfg
    model.cfg = dataclasses.replace(shipped, generate_padding="right")
    try:
        records += run_self_checks(padding_checks(model, "generate", generation), SELF_CHECK_POLICY)
    finally:
        model.cfg = dataclasses.replace(shipped, choice_padding=model.cfg.choice_padding)
    rows = [r.as_dict() for r in records]
    result = {"policy": SELF_CHECK_POLICY, "checks": len(rows), "verdicts": dict(Counter(r["verdict"] for r in rows)),
              "seconds": round(sum(r["seconds"] for r in rows), 3), "records": rows}
    if not rows:
        result["note"] = "the model lists no self-checks (VisionLanguageModel.self_checks default)"
    return result


class EngineRun:
    """The shipped engine setting on the workload: ``run(samples)`` -> the engine's wall time (``engine_s``, the
    engine's own total) and rates."""

    def __init__(self, core: Core, tiny: bool):
        self.model = core.model
        self.settings, self.shown = shipped_settings(tiny)
        mme = get_benchmark("mme_realworld")
        self.encode = SampleEncoder(mme, self.shown["protocol"], self.settings.min_pixels, self.settings.max_pixels)
        self.finalize = PredictionBuilder(mme, "official", "official")

    def run(self, samples) -> dict:
        with tempfile.TemporaryDirectory(prefix="awaker-device-core-") as tmp:
            result = run_inference(samples, self.encode, self.model, self.finalize, Path(tmp),
                                   self.settings.mode, "device-core", self.settings)
        seconds = result.timings.total
        return {"questions": len(samples), "engine_s": round(seconds, 3),
                "samples_per_s": round(len(samples) / seconds, 4),
                "model_s": round(result.timings.model, 2), "data_wait_s": round(result.timings.data_wait, 2),
                "batches": result.batches, "failed": result.counts.failed, "vision": result.vision}


def write_workload(samples: list, folder: Path, shape: str, images: int) -> dict:
    """The MME-RealWorld-like mix (2 questions per image, heavy tail), its JPEGs written once into the cache."""
    samples += workload(folder, shape, max(images, WARMUP_IMAGES))
    return {"images": len(samples) // 2, "questions": len(samples)}


def affordable_images(core: Core, warm: dict, most: int) -> int:
    """Images (2 questions each) the measured pass can take in what is left of the budget, at the warm-up's rate
    (pessimistic: the warm-up pays compiles and worker start-up, in one small batch), kept 20% short of it."""
    left = core.args.budget_s - core.elapsed() - 10.0  # 10 s for the report and the process exit
    per_question = warm["seconds"] / warm["questions"]  # the whole step: model build-up costs included
    return max(2, min(most, math.floor(0.8 * left / per_question / 2)))


def engine(core: Core, runner: EngineRun, samples, warm: dict) -> dict:
    """The measured pass, as large as the budget allows, and what it projects for the full EN run."""
    images = affordable_images(core, warm, core.args.images)
    measured = runner.run(samples[:2 * images])
    rate = measured["questions"] / measured["engine_s"]
    measured["images"], measured["images_most"] = images, core.args.images
    measured["settings"] = runner.shown
    measured["projection"] = {
        "full_en_run_h": round(MME_REALWORLD_EN_QUESTIONS / rate / 3600, 3),
        "basis": "this pass's s/question x 23,609 questions; 2 questions per image (MME-RealWorld EN: ~1.8), "
                 "2 of every 8 images at the 16,384-visual-token cap; random weights, so every answer runs to "
                 f"max_new_tokens={runner.shown['max_new_tokens']} (a real model's answers stop earlier)"}
    return measured


def run_core(core: Core) -> None:
    """The steps in order of importance: correctness on the device first, then what the shipped setting delivers."""
    args = core.args
    cache = args.cache_dir or default_cache_dir()
    core.step("golden_bf16", lambda: golden(args, "bfloat16"))
    core.step("golden_fp32", lambda: golden(args, "float32"))
    core.step("build", lambda: build(core, cache))
    core.step("self_checks", lambda: self_checks(core.model))
    shape, samples = core.report["shape"], []
    core.step("workload", lambda: write_workload(samples, cache / f"device_core_{shape}", shape, args.images))
    runner = EngineRun(core, args.tiny)
    warm = core.step("warmup", lambda: runner.run(samples[:2 * WARMUP_IMAGES]))
    core.step("engine", lambda: engine(core, runner, samples, warm))


def main(argv=None) -> int:
    args = parse_args(argv)
    core = Core(args)
    try:
        run_core(core)
    except Exception as exc:  # the step's record is saved; what ran outside a step is named "core"
        failed = core.report["status"].removeprefix("failed: ").replace("running", "core")
        print(f"FAILED: {failed}: {type(exc).__name__}: {exc}", flush=True)
        return 1
    core.report["status"] = "ok"
    core.report["over_budget"] = core.elapsed() > args.budget_s
    core.save()
    print(f"core done in {core.elapsed():.0f} s (budget {args.budget_s:.0f} s); report: {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
