"""A tiny, randomly initialised Qwen2-VL checkpoint built locally, offline, with a fixed seed.

It stands in for real checkpoints wherever no weights can be downloaded (tests, the offline demo): it is written
with ``save_pretrained`` (config, safetensors weights, a small byte-level BPE tokenizer with the Qwen2-VL special
tokens and chat template, the image processor) and loaded back through the same ``from_pretrained`` path as a real
checkpoint. Built once per cache directory; a marker file makes concurrent or interrupted builds safe.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from awaker_eval.build_once import build_once
from awaker_eval.models.chat_template import QWEN2_VL_CHAT_TEMPLATE

TINY_VERSION = "tiny-qwen2vl-v2"
SPECIAL_TOKENS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>",
    "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
    "<|image_pad|>", "<|video_pad|>",
]
# A fixed training corpus: the words the benchmarks' prompts use, so prompts tokenise into few tokens.
_CORPUS = [
    "The choices are listed below: Select the best answer to the above multiple-choice question based on the image.",
    "Respond with only the letter (A, B, C, D, or E) of the correct option. The best answer is: A B C D E",
    "Hint: Question: Options: Please select the correct answer from the options above. How many shapes are there?",
    "What colour is the circle? red green blue yellow purple orange black white square triangle text reads",
    "You are a helpful assistant. system user assistant Perception Reasoning 0 1 2 3 4 5 6 7 8 9",
    "选项如下所示 根据图像选择上述多项选择题的最佳答案。只需回答正确选项的字母 最佳答案为 请直接回答选项字母。",
]


def default_cache_dir() -> Path:
    return Path(os.path.expanduser("~/.cache/awaker_eval"))


def _train_tokenizer(vocab_size: int):
    """Train a byte-level BPE on the fixed corpus and wrap it as the Qwen2 tokenizer class (deterministic)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    bpe.train_from_iterator(_CORPUS * 4, trainer=trainer)
    state = json.loads(bpe.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in state["merges"]]
    tok = Qwen2Tokenizer(vocab=state["vocab"], merges=merges, errors="replace")
    tok.add_special_tokens({"additional_special_tokens": SPECIAL_TOKENS[1:]})
    tok.chat_template = QWEN2_VL_CHAT_TEMPLATE
    return tok


def build_tiny_checkpoint(out_dir: Path, seed: int = 0) -> Path:
    """Write a tiny random Qwen2-VL checkpoint directory (config, weights, tokenizer, processor) to ``out_dir``."""
    import torch
    from transformers import (
        GenerationConfig,
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
    )

    tok = _train_tokenizer(vocab_size=512)
    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    vocab = len(tok)
    config = Qwen2VLConfig(
        text_config=dict(
            vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=4096, rms_norm_eps=1e-6,
            rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": [2, 3, 3]},
            bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"],
            tie_word_embeddings=False,
        ),
        vision_config=dict(
            depth=2, embed_dim=32, hidden_size=64, num_heads=2, mlp_ratio=2, patch_size=14, spatial_merge_size=2,
            temporal_patch_size=2,
        ),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(config).to(torch.float32).eval()
    with torch.no_grad():  # spread the output distribution so greedy decoding is not degenerate, and make
        model.lm_head.weight.normal_(0.0, 1.0)  # option letters / end-of-turn likelier, like an instructed model
        answer_ids = [tok.convert_tokens_to_ids(t) for t in "ABCDE"] + [ids["<|im_end|>"]]
        model.lm_head.weight[answer_ids] *= 3.0
    model.generation_config = GenerationConfig(
        do_sample=False, eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]], pad_token_id=ids["<|endoftext|>"]
    )
    processor = Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessor(min_pixels=56 * 56, max_pixels=28 * 28 * 1280),
        video_processor=Qwen2VLVideoProcessor(),
        tokenizer=tok,
        chat_template=QWEN2_VL_CHAT_TEMPLATE,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    (out_dir / "awaker_eval_tiny.json").write_text(json.dumps({"version": TINY_VERSION, "seed": seed}))
    return out_dir


def ensure_tiny_checkpoint(cache_dir: str | Path | None = None, seed: int = 0) -> Path:
    """Return the cached tiny checkpoint directory, building it once (atomic rename, safe against races)."""
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    target = root / "models" / f"{TINY_VERSION}-seed{seed}"
    return build_once(target, "awaker_eval_tiny.json", lambda tmp: build_tiny_checkpoint(tmp, seed=seed))
