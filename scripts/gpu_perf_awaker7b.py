"""Honest GPU benchmark of Awaker2.5-VL at the real 7B shape (random seeded weights), one process, one 10-min slot.

Same weights and inputs for every path: a workload of two questions per image with a heavy tail (a quarter of the
images at the 16,384-visual-token cap). Stages, in order, each written to the JSON report as soon as it ends:
  epilogue        the fused adapter epilogue (triton on CUDA) against the unfused path at the real layer shape:
                  bit equality, time and peak memory of each
  loop_choice     reference: model.score_choices one sample at a time (README-style per-sample loop)
  loop_gen2       reference: model.generate one sample at a time, 2 new tokens
  choice          the engine in choice mode, every optimisation on
  gen2 / gen16    the engine in generate mode (2 and 16 new tokens; decode ms per step from their difference)
  OPTIMISATIONS_OFF rows   the same engine path with one optimisation off (vision reuse, fused epilogue, routing
                  once per call, right-padded choice prefill, batched vision attention)
  components      vision tower and LLM time of the choice path (synchronised timers), FLOPs, fraction of peak
  host_reads      tensor-value reads (host syncs on a GPU) of one 2-question batch, all on and each switch off
  agreement_parity  parity-mode letters, routing, greedy ids and logits of the first --agreement-samples questions
  fast            adapter_dtype_mode=fast: engine choice samples/s beside parity's, and its agreement with parity
                  (letters, routing, greedy ids, max logit difference)
Every engine path and loop reports samples/s and prompt tokens/s with the same denominators (the workload's questions
and prompt tokens), peak memory and the spread over ``--repeats``; and whether its letters / greedy text and routing
equal the reference loop's. The closing ``projection`` gives the full MME-RealWorld EN run time (23,609 questions).
``--budget-s`` keeps the run inside one GPU slot: a stage that would start past it (keeping the time the fast stage
needs) is recorded as skipped, never silently left out.

  python scripts/gpu_perf_awaker7b.py --out $OUT/gpu_perf.json          # H100 / H200
  python scripts/gpu_perf_awaker7b.py --tiny --out /tmp/perf.json       # dry run at a tiny shape on CPU
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from awaker7b_setup import PEAK_BF16_TFLOPS, build_random_awaker, flops_of, workload
from host_reads import host_reads
from perf_switches import OPT_IN, OPTIMISATIONS_OFF

MME_REALWORLD_EN_QUESTIONS = 23609


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tiny", action="store_true", help="dry run: tiny shape on CPU, 3 images, 1 repeat")
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-batch-visual-tokens", type=int, default=32768)
    ap.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--peak-tflops", type=float, default=None, help="bf16 peak of the GPU (default: by name)")
    ap.add_argument("--cache-dir", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", ".")) / "gpu_perf.json")
    ap.add_argument("--skip", default="", help="comma-separated stages to skip")
    ap.add_argument("--only", default="", help="comma-separated stages to run (default: all)")
    ap.add_argument("--budget-s", type=float, default=390.0, help="no stage starts after this many seconds")
    ap.add_argument("--agreement-samples", type=int, default=4, help="questions of the fast/parity agreement")
    args = ap.parse_args(argv)
    if args.tiny:
        args.images, args.repeats, args.workers, args.device = 3, 1, 0, "cpu"
    return args


class Bench:
    """Holds the model, the workload and the report; ``stage`` runs, times and saves one stage."""

    def __init__(self, args):
        self.t_start = time.perf_counter()  # the budget counts the build and the workload measurement too
        from awaker_eval.models.tiny import default_cache_dir
        from awaker_eval.sample_io import PredictionBuilder, SampleEncoder
        from awaker_eval.tasks.registry import get_benchmark

        self.args, self.shape = args, "tiny" if args.tiny else "7b"
        self.cache = args.cache_dir or default_cache_dir()
        self.cuda = args.device.startswith("cuda")
        self.model, self.config, self.settings = build_random_awaker(self.shape, args.device, self.cache)
        self.samples = workload(self.cache / f"gpu_perf_{self.shape}", self.shape, args.images)
        mme = get_benchmark("mme_realworld")
        self.encode = SampleEncoder(mme, "official", None, None)  # official prompt, processor defaults
        self.finalize = PredictionBuilder(mme, "official", "official")
        name = torch.cuda.get_device_name(0) if self.cuda else "cpu"
        self.peak = args.peak_tflops or next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
        self.tokens, self.text_flops, self.vision_flops = self._measure_workload()
        self.report = {"device": name, "shape": self.shape, "build_s": round(self.model.build_s, 1),
                       "parameters_b": round(sum(p.numel() for p in self.model.hf_model.parameters()) / 1e9, 3),
                       "workload": {"questions": len(self.samples), "images": args.images,
                                    "prompt_tokens": self.tokens, "llm_tflop": self.text_flops / 1e12,
                                    "vision_tflop_per_question": self.vision_flops / 1e12},
                       "attention": {"llm": self.config._attn_implementation,
                                     "vision": getattr(self.config.vision_config, "_attn_implementation", None)},
                       "stages": {}}
        self.reference: dict[str, list] = {}
        self.reserve_s = 0.0  # kept for the fast stage once the choice stage has shown what it costs

    def _measure_workload(self):
        tokens, text, vision = 0, 0.0, 0.0
        for s in self.samples:
            prepared = self.model.prepare([self.encode(s)])
            tokens += int(prepared["attention_mask"].sum())
            t, v = flops_of(prepared, self.config, self.settings.r)
            text, vision = text + t, vision + v
        return tokens, text, vision

    def save(self):
        self.args.out.parent.mkdir(parents=True, exist_ok=True)
        self.args.out.write_text(json.dumps(self.report, indent=2) + "\n")

    def stage(self, name, fn, reserve=True):
        if name in self.args.skip.split(",") or (self.args.only and name not in self.args.only.split(",")):
            return None
        elapsed = time.perf_counter() - self.t_start
        if elapsed + (self.reserve_s if reserve else 0.0) > self.args.budget_s:
            self.report["stages"][name] = {"skipped": f"time budget: {elapsed:.0f} s elapsed, "
                                                      f"{self.reserve_s:.0f} s kept for the fast stage, "
                                                      f"budget {self.args.budget_s:.0f} s"}
            self.save()
            print(f"{name}: skipped (time budget)", flush=True)
            return None
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        try:
            result = fn()
        except Exception as exc:  # a failed stage is reported, the others still run
            result = {"error": f"{type(exc).__name__}: {exc}"[:500]}
        result["wall_s"] = round(time.perf_counter() - t0, 2)
        if self.cuda:
            result["peak_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        self.report["stages"][name] = result
        self.save()
        print(f"{name}: {json.dumps(result)[:400]}", flush=True)
        return result

    # -- paths -----------------------------------------------------------------------------------------------
    def _rows(self, outs):
        return [(o.text, o.routing, o.choice_logprobs) for o in outs]

    def loop(self, mode, max_new_tokens=2):
        from awaker_eval.models.base import GenerationSettings

        totals, runs = [], []
        for _ in range(self.args.repeats):
            outs, t0 = [], time.perf_counter()
            for s in self.samples:
                prepared = self.model.prepare([self.encode(s)])
                with torch.inference_mode():
                    if mode == "choice":
                        outs += self.model.score_choices(prepared, [s.letters])
                    else:
                        outs += self.model.generate(prepared, GenerationSettings(max_new_tokens=max_new_tokens))
            self._sync()
            totals.append(time.perf_counter() - t0)
            runs.append(self._rows(outs))
        self.reference[mode] = runs[0]
        return {**self._rates(totals), "repeats_identical": all(r == runs[0] for r in runs)}

    def _sync(self):
        if self.cuda:
            torch.cuda.synchronize()

    def engine(self, mode, reference, max_new_tokens=2, reuse=True, store_as=None, repeats=None):
        from awaker_eval.engine.runner import EngineSettings, run_inference
        from awaker_eval.models.base import GenerationSettings

        settings = EngineSettings(mode=mode, batch_size=self.args.batch_size,
                                  max_batch_visual_tokens=self.args.max_batch_visual_tokens,
                                  num_workers=self.args.workers, resume=False, progress=False, reuse_vision=reuse,
                                  generation=GenerationSettings(max_new_tokens=max_new_tokens))
        outs: dict[str, tuple] = {}

        def keep(sample, output):
            outs[sample.id] = (output.text, output.routing, output.choice_logprobs)
            return self.finalize(sample, output)

        totals, models, result = [], [], None
        for _ in range(repeats or self.args.repeats):
            with tempfile.TemporaryDirectory(prefix="awaker-gpu-perf-") as tmp:
                result = run_inference(self.samples, self.encode, self.model, keep, Path(tmp), mode, "w", settings)
            totals.append(result.timings.total)
            models.append(result.timings.model)
        rows = [outs[s.id] for s in self.samples]
        if store_as:
            self.reference[store_as] = rows
        return {**self._rates(totals), "model_s": [round(m, 3) for m in models], "batches": result.batches,
                "failed": result.counts.failed, "vision": result.vision, "attention": self.model.attention_info(),
                **self._agreement(rows, reference)}

    def _rates(self, seconds):
        mean = statistics.mean(seconds)
        return {"seconds": [round(s, 3) for s in seconds], "samples_per_s": round(len(self.samples) / mean, 4),
                "prompt_tokens_per_s": round(self.tokens / mean, 1),
                "spread_pct": round(100 * (max(seconds) - min(seconds)) / mean, 1) if len(seconds) > 1 else None}

    def _agreement(self, rows, reference):
        ref = self.reference.get(reference)
        if ref is None:
            return {"agreement": f"no {reference} reference"}
        same_text = sum(a[0] == b[0] for a, b in zip(rows, ref))
        same_route = sum(a[1] == b[1] for a, b in zip(rows, ref))
        diffs = [abs(a[2][k] - b[2][k]) for a, b in zip(rows, ref) if a[2] and b[2] for k in a[2]]
        return {"same_answer": f"{same_text}/{len(ref)}", "same_routing": f"{same_route}/{len(ref)}",
                "max_logprob_diff": max(diffs) if diffs else None}


def epilogue_check(bench):
    """Fused vs unfused at the real o_proj / gate_proj shape, a mixed-expert batch; bit equality, time and the
    peak memory each call adds above what is already allocated (CUDA only)."""
    from awaker_eval.models.awaker.build import routed_modules
    from awaker_eval.models.awaker.epilogue import kernel_name

    module, owner = next(routed_modules(bench.model.hf_model))
    state = bench.model.routing
    hidden = module.in_features
    dev, dtype = module.weight.device, module.weight.dtype
    gen = torch.Generator(device=dev).manual_seed(1)
    x = torch.randn(4, 256, hidden, generator=gen, device=dev).to(dtype)
    route = torch.randn(4, 1, owner.w_gate.in_features, generator=gen, device=dev).to(dtype) * 4
    with torch.inference_mode(), state.session(torch.zeros(4, 1, dtype=torch.long, device=dev),
                                               torch.tensor([[0, 1]] * 4)):
        state.on_decoder_call(route, 0)
        experts = state.decision(owner).expert.tolist()
        times, peaks = {}, {}
        for name, fn in (("fused", module.forward), ("unfused", module.unfused)):
            if bench.cuda:
                torch.cuda.synchronize()
                base_bytes = torch.cuda.memory_allocated()
                torch.cuda.reset_peak_memory_stats()
            fn(x)
            if bench.cuda:
                torch.cuda.synchronize()
                peaks[name] = round((torch.cuda.max_memory_allocated() - base_bytes) / 2**20, 1)
            t0 = time.perf_counter()
            for _ in range(10):
                y = fn(x)
            if bench.cuda:
                torch.cuda.synchronize()
            times[name] = (time.perf_counter() - t0) / 10 * 1e3
        equal = torch.equal(module(x), module.unfused(x))
    return {"kernel": kernel_name(dev, module.scaling), "bit_equal": equal, "experts": experts,
            "ms_fused": round(times["fused"], 3), "ms_unfused": round(times["unfused"], 3),
            "peak_mib_fused": peaks.get("fused"), "peak_mib_unfused": peaks.get("unfused")}


def components(bench):
    """Vision-tower seconds (synchronised around every tower call) against the choice path's model seconds."""
    visual = bench.model.hf_model.model.visual
    spent = [0.0]

    def pre(module, args):
        if bench.cuda:
            torch.cuda.synchronize()
        spent.append(time.perf_counter())

    def post(module, args, out):
        if bench.cuda:
            torch.cuda.synchronize()
        spent[0] += time.perf_counter() - spent.pop()

    handles = [visual.register_forward_pre_hook(pre), visual.register_forward_hook(post)]
    try:
        run = bench.engine("choice", "choice")
    finally:
        for h in handles:
            h.remove()
    model_s = statistics.mean(run["model_s"])
    vision_s, encoded = spent[0] / bench.args.repeats, (run["vision"] or {}).get("vision_images_encoded", 0)
    vision_flops = bench.vision_flops * (encoded / bench.args.repeats) / len(bench.samples)
    llm_s = model_s - vision_s
    out = {"vision_s": round(vision_s, 3), "llm_s": round(llm_s, 3),
           "vision_tflops": round(vision_flops / vision_s / 1e12, 1) if vision_s else None,
           "llm_tflops": round(bench.text_flops / llm_s / 1e12, 1) if llm_s > 0 else None}
    if bench.peak:
        out |= {k.replace("tflops", "peak_fraction"): round(v / bench.peak, 3) for k, v in list(out.items())
                if k.endswith("tflops") and v}
    return out


def agreement_batches(bench):
    """The first ``--agreement-samples`` questions (they include a capped image), one per batch."""
    return [([bench.encode(s)], [list(s.letters)]) for s in bench.samples[:bench.args.agreement_samples]]


def agreement_parity(bench):
    """Parity-mode outputs of the agreement questions, kept on the host for the fast stage."""
    from awaker_eval.models.awaker.fast_agreement import run_mode

    bench.parity_run = run_mode(bench.model, agreement_batches(bench), max_new_tokens=8)
    return {"rows": len(bench.parity_run.letters), "letters": bench.parity_run.letters}


def fast_mode(bench, parity_choice):
    """Rebuild in adapter_dtype_mode=fast (same seeded weights): its engine choice path beside parity's, and its
    agreement with parity (letters, routing, greedy ids, max logit difference) on the agreement questions."""
    import gc

    from awaker_eval.models.awaker.fast_agreement import agreement, run_mode

    del bench.model
    gc.collect()
    if bench.cuda:
        torch.cuda.empty_cache()
    bench.model, _, _ = build_random_awaker(bench.shape, bench.args.device, bench.cache, adapter_dtype_mode="fast")
    result = {"build_s": round(bench.model.build_s, 1), **bench.engine("choice", "choice")}
    parity_rate = (parity_choice or {}).get("samples_per_s")
    result["parity_samples_per_s"] = parity_rate
    result["speedup_vs_parity"] = round(result["samples_per_s"] / parity_rate, 3) if parity_rate else None
    parity_run = getattr(bench, "parity_run", None)
    if parity_run is None:
        result["agreement_with_parity"] = "no agreement_parity stage ran: agreement not measured"
    else:
        result["agreement_with_parity"] = agreement(parity_run, run_mode(bench.model, agreement_batches(bench), 8))
    return result


def switched(bench, switch, fn):
    with switch(bench):
        return fn()


def main(argv=None) -> int:
    args = parse_args(argv)
    bench = Bench(args)
    bench.save()
    print(json.dumps({k: v for k, v in bench.report.items() if k != "stages"}), flush=True)
    bench.stage("epilogue", lambda: epilogue_check(bench))
    if not args.tiny:  # warm-up, one pass: CUDA context, kernels, allocator, workers
        bench.engine("generate", None, max_new_tokens=2, repeats=1)
    bench.stage("loop_choice", lambda: bench.loop("choice"))
    bench.stage("loop_gen2", lambda: bench.loop("generate", 2))
    choice = bench.stage("choice", lambda: bench.engine("choice", "choice"))
    if choice and "wall_s" in choice:  # the fast stage: a rebuild, one engine choice run, the agreement questions
        per_question = choice["wall_s"] / (args.repeats * len(bench.samples))
        bench.reserve_s = bench.model.build_s + choice["wall_s"] + 4 * per_question * args.agreement_samples
    gen2 = bench.stage("gen2", lambda: bench.engine("generate", "generate", max_new_tokens=2))
    gen16 = bench.stage("gen16", lambda: bench.engine("generate", None, max_new_tokens=16, store_as="gen16"))
    for name, mode, new_tokens, reference, switch, kwargs in OPTIMISATIONS_OFF + OPT_IN:
        bench.stage(name, lambda: switched(bench, switch, lambda: bench.engine(mode, reference, new_tokens, **kwargs)))
    bench.stage("components", lambda: components(bench))
    bench.stage("host_reads", lambda: host_reads(bench, OPTIMISATIONS_OFF))
    summarise(bench, choice, gen2, gen16)
    bench.stage("agreement_parity", lambda: agreement_parity(bench), reserve=False)  # both in reserve_s
    bench.stage("fast", lambda: fast_mode(bench, choice), reserve=False)
    print(f"report: {args.out}")
    return 0


def summarise(bench, choice, gen2, gen16):
    """Decode ms per step, fused-vs-unfused peak memory and the full-run projection, from the finished stages."""
    stages = bench.report["stages"]
    if gen2 and gen16 and "model_s" in gen2 and "model_s" in gen16:
        step_ms = (statistics.mean(gen16["model_s"]) - statistics.mean(gen2["model_s"])) / (14 * gen16["batches"])
        bench.report["decode_ms_per_step"] = round(step_ms * 1e3, 2)
    unfused = stages.get("choice_unfused_epilogue", {})
    if choice and "peak_gib" in choice and "peak_gib" in unfused:
        bench.report["peak_gib_choice"] = {"fused_epilogue": choice["peak_gib"], "unfused": unfused["peak_gib"]}
    if choice and "samples_per_s" in choice:
        per_sample = 1 / choice["samples_per_s"]
        bench.report["projection"] = {"full_en_run_h_choice": round(per_sample * MME_REALWORLD_EN_QUESTIONS / 3600, 2),
                                      "basis": "engine choice-mode s/sample on this workload x 23,609 questions"}
    bench.save()


if __name__ == "__main__":
    raise SystemExit(main())
