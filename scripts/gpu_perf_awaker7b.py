"""GPU throughput of the engine on Awaker2.5-VL at its real 7B shape, with random weights (no download).

Builds Qwen2-VL-7B's shape (28 layers, hidden 3584, 32-block ViT) with the Awaker adapters (q/k/v LoRA r=256, MoE
LoRA on o/gate/up/down, routers) through the package's own builder (meta skeleton -> strict assign -> routing
hooks), random bf16 weights (q/k/v LoRA in fp32, the ``parity`` mode), and runs the engine on synthetic
MME-RealWorld-sized images (1500-2500 px per side, the official resolution policy: qwen_vl_utils defaults, up to
16384 visual tokens). Prints samples/s (generation), prefill tokens/s and model FLOPs utilisation (choice mode:
one forward pass per batch, FLOPs counted analytically from the real input shapes).

The tokenizer is the tiny offline one (the 7B tokenizer cannot be downloaded here); the special-token ids of the
config follow it. Text prompts therefore have a few tokens fewer than with the real tokenizer; visual tokens, which
dominate MME-RealWorld, are exact.

  python scripts/gpu_perf_awaker7b.py                      # H100 / H200, ~25 GB of GPU memory, a few minutes
  python scripts/gpu_perf_awaker7b.py --shape tiny --n 4 --device cpu   # smoke test of this script on CPU
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}  # dense bf16 tensor-core peaks (SXM)
SHAPES = {
    "7b": dict(text=dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                         num_key_value_heads=4, vocab_size=152064, mrope_section=[16, 24, 24]),
               vision=dict(depth=32, embed_dim=1280, num_heads=16, mlp_ratio=4), r=256),
    "tiny": dict(text=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                           num_key_value_heads=2, vocab_size=1024, mrope_section=[2, 3, 3]),
                 vision=dict(depth=2, embed_dim=32, num_heads=2, mlp_ratio=2), r=8),
}


def build_config(shape: str, tok):
    from transformers import Qwen2VLConfig

    s = SHAPES[shape]
    t = dict(s["text"])
    ids = {name: tok.convert_tokens_to_ids(name) for name in
           ("<|endoftext|>", "<|im_end|>", "<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")}
    return Qwen2VLConfig(
        text_config=dict(
            vocab_size=t["vocab_size"], hidden_size=t["hidden_size"], intermediate_size=t["intermediate_size"],
            num_hidden_layers=t["num_hidden_layers"], num_attention_heads=t["num_attention_heads"],
            num_key_value_heads=t["num_key_value_heads"], max_position_embeddings=32768, rms_norm_eps=1e-6,
            rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": t["mrope_section"]},
            bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"],
            tie_word_embeddings=False,
        ),
        vision_config=dict(s["vision"], hidden_size=t["hidden_size"], patch_size=14, spatial_merge_size=2,
                           temporal_patch_size=2, in_chans=3),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )


def random_state_dict(config, settings, dtype: torch.dtype, device: str) -> dict[str, torch.Tensor]:
    """Random tensors for every key of the adapted skeleton, created directly in their target dtype/device."""
    from awaker_eval.models.awaker.build import build_skeleton, dtype_plan

    plan = dtype_plan(dtype, "parity")
    gen = torch.Generator(device=device).manual_seed(0)
    state = {}
    for key, meta in build_skeleton(config, settings).state_dict().items():
        t = torch.empty(meta.shape, dtype=plan(key), device=device)
        if key.endswith("norm.weight") or key.endswith(".ln.weight") or "norm" in key.split(".")[-2]:
            t.fill_(1.0)
        else:
            t.normal_(0.0, 0.02, generator=gen)
        state[key] = t
    return state


def flops_of(prepared, config, r: int) -> float:
    """Forward FLOPs of one prepared batch: linear layers (base + active adapters), attention, ViT, merger."""
    tc, vc = config.text_config, config.vision_config
    h, i, layers = tc.hidden_size, tc.intermediate_size, tc.num_hidden_layers
    kv = tc.num_key_value_heads * (h // tc.num_attention_heads)
    base = 2 * h * h + 2 * h * kv + 3 * h * i
    lora = r * (2 * h + 2 * (h + kv))  # q/k/v LoRA
    moe = 2 * r * (2 * h + 2 * (h + i) + (i + h))  # selected expert + global expert on o/gate/up/down
    lengths = prepared["attention_mask"].sum(dim=1).double()
    tokens = float(lengths.sum())
    text = layers * (2 * (base + lora + moe) * tokens + 2 * h * float((lengths * lengths).sum()))  # causal attn
    text += 2 * h * tc.vocab_size * len(lengths)  # lm_head on the last position only
    d, depth = vc.embed_dim, vc.depth
    vision = 0.0
    for t_, gh, gw in prepared["image_grid_thw"].tolist() if "image_grid_thw" in prepared else []:
        n = t_ * gh * gw
        vision += 2 * n * 3 * 2 * 14 * 14 * d  # patch embedding
        vision += depth * (2 * n * (4 * d * d + 2 * d * d * vc.mlp_ratio) + 4 * n * n * d)
        vision += 2 * (n / 4) * (4 * d * 4 * d + 4 * d * h)  # 2x2 merger MLP
    return text + vision


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", choices=sorted(SHAPES), default="7b")
    ap.add_argument("--n", type=int, default=64, help="synthetic items")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-batch-visual-tokens", type=int, default=32768)
    ap.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--peak-tflops", type=float, default=None, help="bf16 peak of the GPU (default: by name)")
    ap.add_argument("--cache-dir", type=Path, default=None)
    args = ap.parse_args(argv)

    from transformers import AutoTokenizer, Qwen2VLImageProcessor, Qwen2VLProcessor, Qwen2VLVideoProcessor

    from awaker_eval.config.schema import ModelConfig
    from awaker_eval.engine.perf import load_benchmark
    from awaker_eval.engine.runner import EngineSettings, run_inference
    from awaker_eval.models.awaker.backend import AwakerModel
    from awaker_eval.models.awaker.build import build_awaker
    from awaker_eval.models.awaker.prompt_pos import SpecialTokens
    from awaker_eval.models.awaker.settings import AdapterSettings
    from awaker_eval.models.base import GenerationSettings
    from awaker_eval.models.chat_template import QWEN2_VL_CHAT_TEMPLATE
    from awaker_eval.models.tiny import default_cache_dir, ensure_tiny_checkpoint
    from awaker_eval.sample_io import PredictionBuilder, SampleEncoder

    cache = args.cache_dir or default_cache_dir()
    tok = AutoTokenizer.from_pretrained(ensure_tiny_checkpoint(cache))
    processor = Qwen2VLProcessor(  # Qwen2-VL-7B-Instruct's image limits (3136 .. 12845056 px)
        image_processor=Qwen2VLImageProcessor(min_pixels=3136, max_pixels=12845056),
        video_processor=Qwen2VLVideoProcessor(), tokenizer=tok, chat_template=QWEN2_VL_CHAT_TEMPLATE,
    )
    config = build_config(args.shape, tok)
    settings = AdapterSettings(r=SHAPES[args.shape]["r"], lora_alpha=2 * SHAPES[args.shape]["r"])
    dtype = torch.bfloat16 if args.device.startswith("cuda") else torch.float32

    class RandomAwaker(AwakerModel):
        """AwakerModel whose weights are random tensors of the real shape instead of a checkpoint."""

        flops = 0.0

        def _load_hf(self):
            t0 = time.perf_counter()
            model, self.routing = build_awaker(config, settings, random_state_dict(config, settings, dtype, args.device),
                                               dtype=dtype, device=args.device, where="random weights")
            self.build_s = time.perf_counter() - t0
            self.special_tokens = SpecialTokens.from_tokenizer(tok)
            self.adapter = settings
            return model, processor

        def fingerprint(self):
            return {"kind": "random-awaker", "shape": args.shape}

        def score_choices(self, prepared, letters):
            RandomAwaker.flops += flops_of(prepared, config, settings.r)
            return super().score_choices(prepared, letters)

    cfg = ModelConfig(name="awaker-random", kind="awaker2_5_vl", device=args.device,
                      dtype="bfloat16" if dtype == torch.bfloat16 else "float32")
    model = RandomAwaker(cfg, local_path=str(ensure_tiny_checkpoint(cache)))
    n_params = sum(p.numel() for p in model.hf_model.parameters())
    samples = load_benchmark(cache, args.n, (1500, 2500))
    encode = SampleEncoder("official", None, None)  # MME-RealWorld official policy: qwen_vl_utils defaults
    finalize = PredictionBuilder("mme_realworld", "official", "official")
    prompt_tokens: list[int] = []

    def counting_finalize(sample, output):
        prompt_tokens.append(output.n_prompt_tokens or 0)
        return finalize(sample, output)

    def run(mode: str, items, progress: bool = True, max_new_tokens: int = args.max_new_tokens):
        es = EngineSettings(mode=mode, batch_size=args.batch_size, max_batch_visual_tokens=args.max_batch_visual_tokens,
                            num_workers=args.workers, resume=False, progress=progress,
                            generation=GenerationSettings(max_new_tokens=max_new_tokens))
        with tempfile.TemporaryDirectory(prefix="awaker-gpu-perf-") as tmp:
            return run_inference(items, encode, model, counting_finalize, Path(tmp), mode, "w", es)

    run("generate", samples[:2], progress=False, max_new_tokens=2)  # warm-up: CUDA context, kernels, allocator
    prompt_tokens.clear()
    gen = run("generate", samples)
    tokens = sum(prompt_tokens)
    RandomAwaker.flops = 0.0
    choice = run("choice", samples)
    name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu"
    peak = args.peak_tflops or next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
    model_s = choice.timings.model
    achieved = RandomAwaker.flops / model_s / 1e12 if model_s else float("nan")
    print(f"device: {name}; shape {args.shape}: {n_params / 1e9:.2f} B parameters (built in {model.build_s:.0f} s); "
          f"{len(samples)} images of 1500-2500 px; prompt tokens: {tokens} (mean {tokens / len(samples):.0f})")
    print(f"generate: {gen.samples_per_s:.2f} samples/s (model {gen.timings.model:.1f} s, data wait "
          f"{gen.timings.data_wait:.1f} s, {gen.batches} batches, OOM splits {gen.oom_splits}, failed {gen.counts.failed})")
    print(f"choice (prefill only): {choice.samples_per_s:.2f} samples/s, prefill {tokens / model_s:,.0f} tokens/s, "
          f"{achieved:.1f} TFLOP/s" + (f", MFU {100 * achieved / peak:.1f}% of {peak:.0f} TFLOP/s bf16" if peak else ""))
    if torch.cuda.is_available() and args.device.startswith("cuda"):
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
