"""The body of ``awaker-eval perf`` (``perf_cli.py`` parses its arguments): throughput of the engine against the plain per-sample loop, printed as one table.

On the tiny offline Qwen2-VL and a synthetic workload with realistic image sizes (1000-2000 px) that the
benchmark builds itself (``Benchmark.synthetic_samples``; ``--benchmark``, default the demo's), one process
measures, in this order and with the same prompts and generation settings:
  * the per-sample loop written the way the Awaker README quickstart does it (chat template, process_vision_info,
    processor and ``generate`` once per sample, nothing overlapped),
  * the engine in generation mode (token-budget batches, DataLoader workers) -- its predictions must equal the
    loop's, and the table says how many do,
  * the engine in choice mode (one forward pass per batch), with its agreement with generation,
  * the data pipeline alone (decode + resize + processor in the workers, a null model that answers instantly).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from awaker_eval.config.schema import ModelConfig
from awaker_eval.engine.choice import choice_agreement
from awaker_eval.engine.runner import EngineSettings, run_inference
from awaker_eval.models.base import GenerationSettings, ModelOutput, VisionLanguageModel
from awaker_eval.models.qwen2_vl import Qwen2VLModel
from awaker_eval.models.tiny import default_cache_dir, ensure_tiny_checkpoint
from awaker_eval.sample_io import PredictionBuilder, SampleEncoder
from awaker_eval.tasks.base import Benchmark, BenchmarkError


@dataclass
class PerfRow:
    name: str
    samples: int
    seconds: float
    note: str = ""

    @property
    def rate(self) -> float:
        return self.samples / self.seconds if self.seconds > 0 else float("nan")


class NullModel(VisionLanguageModel):
    """Runs the real preparer (in the workers) and answers instantly: measures the data pipeline alone."""

    def __init__(self, preparer: Any):
        self._preparer = preparer

    def fingerprint(self) -> dict[str, Any]:
        return {"kind": "null"}

    def preparer(self) -> Any:
        return self._preparer

    def prepare(self, conversations):
        return self._preparer(conversations)

    def generate(self, prepared, settings: GenerationSettings) -> list[ModelOutput]:
        return [ModelOutput(text="A") for _ in range(int(prepared["input_ids"].shape[0]))]


def load_benchmark(bench: Benchmark, cache_dir: Path, n: int, sizes: tuple[int, int]):
    """``n`` synthetic items of ``bench`` with images of random width/height in ``sizes`` (cached)."""
    return bench.synthetic_samples(cache_dir / "perf_data", n, sizes, seed=0)


def per_sample_loop(model, samples, encode, settings: GenerationSettings) -> list[str]:
    """The README quickstart, once per sample: template -> process_vision_info -> processor -> generate -> decode."""
    from qwen_vl_utils import process_vision_info
    from transformers import GenerationConfig

    processor, hf_model = model.processor, model.hf_model
    gen_cfg = GenerationConfig(
        max_new_tokens=settings.max_new_tokens, do_sample=settings.do_sample,
        repetition_penalty=settings.repetition_penalty, eos_token_id=model.eos_token_id,
        pad_token_id=model.pad_token_id,
    )
    texts = []
    for sample in samples:
        messages = encode(sample)
        text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        image_inputs, video_inputs = process_vision_info(messages)[:2]
        inputs = processor(text=[text], images=image_inputs, videos=video_inputs, padding=True, return_tensors="pt")
        inputs = inputs.to(model.device)
        with torch.inference_mode():
            generated = hf_model.generate(**inputs, generation_config=gen_cfg)
        trimmed = generated[:, inputs["input_ids"].shape[1]:]
        texts.append(processor.batch_decode(trimmed, skip_special_tokens=True)[0])
    return texts


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def render_table(rows: list[PerfRow], baseline: PerfRow) -> str:
    from tabulate import tabulate

    body = [
        [r.name, r.samples, f"{r.seconds:.1f}", f"{r.rate:.2f}", f"{r.rate / baseline.rate:.2f}x", r.note] for r in rows
    ]
    return tabulate(body, headers=["path", "samples", "seconds", "samples/s", "vs loop", "notes"], tablefmt="github")


def _engine_run(args: argparse.Namespace, samples: list, encode: SampleEncoder, model: VisionLanguageModel,
                finalize: PredictionBuilder, gen: GenerationSettings, mode: str):
    """One engine run over the workload in ``mode``, in a throwaway run directory (nothing resumed)."""
    settings = EngineSettings(
        mode=mode, batch_size=args.batch_size, max_batch_visual_tokens=args.max_batch_visual_tokens,
        num_workers=args.workers, resume=False, progress=False, generation=gen, max_pixels=args.max_pixels,
    )
    with tempfile.TemporaryDirectory(prefix="awaker-perf-") as tmp:
        return run_inference(samples, encode, model, finalize, Path(tmp), mode, "perf", settings)


def run(args: argparse.Namespace, bench: Benchmark) -> int:
    """The measurement the command's arguments ask for (``perf_cli`` parsed them and resolved ``bench``)."""
    cache = args.cache_dir or default_cache_dir()
    try:
        protocol = bench.config_protocol("official")
        samples = load_benchmark(bench, cache, args.n, (args.min_size, args.max_size))
    except BenchmarkError as exc:  # before the model loads
        print(f"awaker-eval perf: error: {exc}", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    model = Qwen2VLModel(
        ModelConfig(name="tiny", kind="tiny", dtype=args.dtype, device=args.device),
        local_path=str(ensure_tiny_checkpoint(cache)),
    )
    encode = SampleEncoder(bench, protocol, None, args.max_pixels)
    finalize = PredictionBuilder(bench, protocol, bench.default_extractor)
    gen = GenerationSettings(max_new_tokens=args.max_new_tokens)
    print(f"perf: {len(samples)} items, images {args.min_size}-{args.max_size} px, max_pixels={args.max_pixels}, "
          f"device={model.device}, dtype={args.dtype}, workers={args.workers}, batch_size={args.batch_size}, "
          f"torch threads={torch.get_num_threads()}", flush=True)

    per_sample_loop(model, samples[:2], encode, gen)  # warm-up (first-call costs), not timed
    loop_texts, loop_s = timed(per_sample_loop, model, samples, encode, gen)
    loop = PerfRow("per-sample loop (README quickstart)", len(samples), loop_s, "processor + generate per sample")

    def engine(mdl: VisionLanguageModel, mode: str):
        return _engine_run(args, samples, encode, mdl, finalize, gen, mode)

    gen_result = engine(model, "generate")
    same = sum(p.raw_output == t for p, t in zip(gen_result.predictions, loop_texts))
    choice_result = engine(model, "choice")
    agree = choice_agreement(gen_result.predictions, choice_result.predictions)
    null_result = engine(NullModel(model.preparer()), "generate")

    t = gen_result.timings
    rows = [
        loop,
        PerfRow("engine, generate", gen_result.counts.done, t.total,
                f"same predictions as loop: {same}/{len(samples)}; {gen_result.batches} batches; "
                f"model {t.model:.1f}s, data wait {t.data_wait:.1f}s"),
        PerfRow("engine, choice (1 forward)", choice_result.counts.done, choice_result.timings.total,
                f"agrees with generate on {agree['agree']}/{agree['compared']}"),
        PerfRow("data pipeline alone (null model)", null_result.counts.done, null_result.timings.total,
                f"decode + resize + processor in {args.workers} workers"),
    ]
    print(render_table(rows, loop))
    failed = gen_result.counts.failed + choice_result.counts.failed
    if failed:
        print(f"warning: {failed} samples failed in the engine runs")
    return 0 if same == len(samples) and not failed else 1
