"""Awaker2.5-VL at its real 7B shape with random weights, and a benchmark workload shaped like MME-RealWorld
(helpers of ``gpu_perf_awaker7b.py``).

The model goes through the package's own builder (meta skeleton -> strict assign -> routing hooks); weights are
seeded random tensors (no download). The workload has two questions per image and a heavy tail: a quarter of the
images exceed the 16,384-visual-token cap (remote-sensing / OCR sizes), the rest are 1500-2500 px.
"""

from __future__ import annotations

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


def flops_of(prepared, config, r: int) -> tuple[float, float]:
    """Forward FLOPs ``(LLM, vision tower)`` of one prepared batch: linear layers (base + active adapters),
    attention, lm_head on the last position; ViT blocks, patch embedding and merger per image."""
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
    return text, vision



# (width, height) of the workload's images, cycled: 2 of every 8 are capped at 16,384 visual tokens.
SIZES = {"7b": [(1500, 1100), (3700, 3700), (2000, 1500), (2500, 1900), (1800, 2400), (4000, 3000), (2200, 1600),
                (1600, 1600)],
         "tiny": [(60, 40), (90, 90), (50, 70)]}
TINY_MAX_PIXELS = 64 * 28 * 28


def write_images(folder: Path, shape: str, n_images: int) -> list[Path]:
    """Seeded smooth-noise JPEGs (cheap to encode, not constant) of the workload sizes."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n_images):
        w, h = SIZES[shape][i % len(SIZES[shape])]
        path = folder / f"img{i:03d}_{w}x{h}.jpg"
        coarse = rng.integers(0, 256, size=(max(2, h // 64), max(2, w // 64), 3), dtype=np.uint8)
        if not path.exists():
            Image.fromarray(coarse).resize((w, h), Image.BILINEAR).save(path, quality=90)
        paths.append(path)
    return paths


def workload(folder: Path, shape: str, n_images: int, per_image: int = 2):
    """``per_image`` MME-RealWorld-style questions on each image (same image key, different questions)."""
    from awaker_eval.types import Choice, ImageRef, Sample

    samples = []
    questions = ["How many vehicles are visible in the image?", "What is the colour of the largest object?",
                 "Which text appears in the upper left corner?"]
    for i, path in enumerate(write_images(folder, shape, n_images)):
        for q in range(per_image):
            opts = [f"{q + k + 1} items" for k in range(5)]
            choices = tuple(Choice(letter=L, text=o, raw=f"({L}) {o}") for L, o in zip("ABCDE", opts))
            samples.append(Sample(
                id=f"w{i:03d}q{q}", benchmark="mme_realworld", language="en",
                question=questions[q % len(questions)], choices=choices, answer="A",
                images=(ImageRef(key=path.name, path=str(path)),), task="Perception", subtask="perf",
                category="perf", group=f"w{i:03d}q{q}", cluster=path.name))
    return samples


def build_random_awaker(shape: str, device: str, cache: Path, adapter_dtype_mode: str = "parity"):
    """An ``AwakerModel`` whose weights are seeded random tensors of ``shape`` (same seed in every build)."""
    import time

    from transformers import AutoTokenizer, Qwen2VLImageProcessor, Qwen2VLProcessor, Qwen2VLVideoProcessor

    from awaker_eval.config.schema import ModelConfig
    from awaker_eval.models.awaker.backend import AwakerModel
    from awaker_eval.models.awaker.build import build_awaker
    from awaker_eval.models.awaker.prompt_pos import SpecialTokens
    from awaker_eval.models.awaker.settings import AdapterSettings
    from awaker_eval.models.chat_template import QWEN2_VL_CHAT_TEMPLATE
    from awaker_eval.models.tiny import ensure_tiny_checkpoint

    tok_dir = ensure_tiny_checkpoint(cache)
    tok = AutoTokenizer.from_pretrained(tok_dir)
    max_pixels = 12845056 if shape == "7b" else TINY_MAX_PIXELS
    processor = Qwen2VLProcessor(  # Qwen2-VL-7B-Instruct's image limits (3136 .. 12845056 px)
        image_processor=Qwen2VLImageProcessor(min_pixels=3136, max_pixels=max_pixels),
        video_processor=Qwen2VLVideoProcessor(), tokenizer=tok, chat_template=QWEN2_VL_CHAT_TEMPLATE,
    )
    config = build_config(shape, tok)
    settings = AdapterSettings(r=SHAPES[shape]["r"], lora_alpha=2 * SHAPES[shape]["r"])
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32

    class RandomAwaker(AwakerModel):
        def _load_hf(self):
            t0 = time.perf_counter()
            state = random_state_dict(config, settings, dtype, device)
            model, self.routing = build_awaker(config, settings, state, dtype=dtype, device=device,
                                               adapter_dtype_mode=adapter_dtype_mode, where="random weights")
            self.build_s = time.perf_counter() - t0
            self.special_tokens = SpecialTokens.from_tokenizer(tok)
            self.adapter = settings
            return model, processor

        def fingerprint(self):
            return {"kind": "random-awaker", "shape": shape, "adapter_dtype_mode": adapter_dtype_mode}

    cfg = ModelConfig(name="awaker-random", kind="awaker2_5_vl", device=device, adapter_dtype_mode=adapter_dtype_mode,
                      dtype="bfloat16" if dtype == torch.bfloat16 else "float32")
    return RandomAwaker(cfg, local_path=str(tok_dir)), config, settings
