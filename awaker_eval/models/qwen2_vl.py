"""Any Qwen2-VL checkpoint (local directory or hub id) as a batched, left-padded ``VisionLanguageModel``.

Preprocessing uses ``qwen_vl_utils.process_vision_info`` (resizing per ``min_pixels``/``max_pixels`` in the
messages) and the checkpoint's own ``AutoProcessor``; it is a picklable callable so DataLoader workers can run it.
Subclasses (Awaker) override ``_load_hf`` / ``_generation_context`` / ``_routing_records``.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import torch

from awaker_eval.config.schema import ModelConfig
from awaker_eval.models.base import GenerationSettings, Messages, ModelOutput, PixelInput, VisionLanguageModel
from awaker_eval.models.loading import resolve_checkpoint, weights_identity
from awaker_eval.models.fast_path_checks import padding_checks, vision_checks
from awaker_eval.models.greedy_right import greedy_right, plain_greedy_reason
from awaker_eval.models.options import MODEL_DTYPES
from awaker_eval.models.padding import last_real_positions, right_padded
from awaker_eval.models.vision_attention import attention_report, install_batched_vision_attention
from awaker_eval.models.vision_reuse import DIGEST_KEY, VisionFeatureCache, image_digest, install_per_image_encoder
from awaker_eval.models.peft_adapter import adapter_fingerprint, apply_adapter
from awaker_eval.models.weights_check import check_checkpoint_dir, check_finite

log = logging.getLogger(__name__)

DTYPES = {name: getattr(torch, name) for name in MODEL_DTYPES}  # model.dtype -> torch dtype
PIXEL_KEYS = ("pixel_values", "pixel_values_videos")  # the processor's fp32 pixel tensors


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def resolve_dtype(name: str) -> torch.dtype:
    if name not in DTYPES:
        raise ValueError(f"model.dtype={name!r} is not one of {sorted(DTYPES)}")
    return DTYPES[name]


def vision_input_dtype(hf_model: Any) -> torch.dtype:
    """The dtype pixel values take before the vision tower's first arithmetic: ``get_image_features`` casts them to
    ``visual.dtype`` and ``patch_embed`` to its conv weight's. Where those agree, casting in the DataLoader worker
    gives the model the same values at fewer bytes (fp32 -> bf16 halves them); where they differ (two casts in a row
    are not one) the processor's fp32 is kept."""
    visual = hf_model.model.visual
    proj = visual.patch_embed.proj.weight.dtype
    return proj if visual.dtype == proj else torch.float32


class PromptTooLong(ValueError):
    """A prompt (text + visual tokens) longer than the model's context; recorded as that sample's error."""


@dataclass
class Qwen2VLPreparer:
    """Picklable ``conversations -> BatchFeature``: chat template, vision resizing, left-padded tokenisation."""

    processor: Any
    max_prompt_tokens: int | None = None  # the model's context length; longer prompts fail (per sample)
    image_digests: bool = False  # add one pixel digest per image (vision reuse: models/vision_reuse.py)
    pixel_dtype: torch.dtype | None = None  # cast pixel tensors to the vision tower's input dtype (vision_input_dtype)

    def __call__(self, conversations: list[Messages]) -> Any:
        from qwen_vl_utils import process_vision_info

        texts = [
            self.processor.apply_chat_template(conv, tokenize=False, add_generation_prompt=True)
            for conv in conversations
        ]
        images, videos = process_vision_info(conversations)[:2]
        batch = self.processor(text=texts, images=images, videos=videos, padding=True, return_tensors="pt")
        longest = int(batch["attention_mask"].sum(dim=1).max())
        if self.max_prompt_tokens is not None and longest > self.max_prompt_tokens:
            raise PromptTooLong(
                f"prompt of {longest} tokens exceeds the model context of {self.max_prompt_tokens} tokens "
                f"(lower max_pixels or shorten the prompt)"
            )
        if self.pixel_dtype is not None:
            for key in PIXEL_KEYS:
                if key in batch:
                    batch[key] = batch[key].to(self.pixel_dtype)
        if self.image_digests and images:
            batch[DIGEST_KEY] = [image_digest(img) for img in images]
        return batch


class Qwen2VLModel(VisionLanguageModel):
    """A Qwen2-VL checkpoint loaded with ``from_pretrained``; generation is greedy unless asked otherwise."""

    def __init__(self, cfg: ModelConfig, local_path: str | None = None):
        self.cfg = cfg
        self.local_path = local_path or resolve_checkpoint(cfg.path, cfg.revision, what="model.path")
        self.device = resolve_device(cfg.device)
        self.dtype = resolve_dtype(cfg.dtype)
        self.hf_model, self.processor = self._load_hf()
        self.pixel_dtype = vision_input_dtype(self.hf_model)  # what the preparer hands over (half of fp32 in bf16)
        self.vision_cache = VisionFeatureCache(reuse=False)
        self._greedy_reasons: dict[GenerationSettings, str | None] = {}  # plain_greedy_reason per settings
        self.generate_fallback: str | None = None  # why generate_padding=right ran HF generate (models/greedy_right.py)
        self._digests: list[str] | None = None
        self.vision_reuse_veto: str | None = None  # why reuse stays off (its run-start self-check failed)
        self.encode_image_alone = install_per_image_encoder(self.hf_model, lambda: (self.vision_cache, self._digests))
        self.vision_attention = install_batched_vision_attention(self.hf_model.model.visual)
        self.processor.tokenizer.padding_side = "left"
        tok = self.processor.tokenizer
        gen_eos = getattr(self.hf_model.generation_config, "eos_token_id", None)
        self.eos_token_id = gen_eos if gen_eos is not None else tok.convert_tokens_to_ids("<|im_end|>")
        self.pad_token_id = tok.pad_token_id if tok.pad_token_id is not None else tok.convert_tokens_to_ids(
            "<|endoftext|>"
        )

    # -- hooks for subclasses -------------------------------------------------------------------------------
    def _load_hf(self) -> tuple[Any, Any]:
        from transformers import AutoProcessor, Qwen2VLForConditionalGeneration

        processor = AutoProcessor.from_pretrained(self.local_path, trust_remote_code=self.cfg.trust_remote_code)
        model = Qwen2VLForConditionalGeneration.from_pretrained(
            self.local_path,
            dtype=self.dtype,
            attn_implementation=self.cfg.attn_implementation,
            trust_remote_code=self.cfg.trust_remote_code,
        )
        return apply_adapter(model, self.cfg).to(self.device).eval(), processor  # PEFT fine-tune, if any

    def _generation_context(self, inputs: Any) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    def _routing_records(self) -> list[dict] | None:
        return None

    # -- VisionLanguageModel --------------------------------------------------------------------------------
    def fingerprint(self) -> dict[str, Any]:
        return {
            "kind": self.cfg.kind,
            "path": self.cfg.path,
            "revision": self.cfg.revision,
            "weights": weights_identity(self.local_path),
            "dtype": self.cfg.dtype,
            "attn_implementation": self.cfg.attn_implementation,
            **adapter_fingerprint(self.cfg),
        }  # model.choice_padding changes choice scores only: it is in the protocol fingerprint (pipeline)

    def preparer(self) -> Qwen2VLPreparer:
        text_cfg = getattr(self.hf_model.config, "text_config", self.hf_model.config)
        return Qwen2VLPreparer(self.processor, getattr(text_cfg, "max_position_embeddings", None),
                               image_digests=self.vision_cache.reuse, pixel_dtype=self.pixel_dtype)

    def pixel_input(self) -> PixelInput:
        """Pixel values per visual token from the vision config (merge x channels x frames x patch^2), in the
        dtype the preparer casts them to."""
        vc = self.hf_model.config.vision_config
        values = vc.spatial_merge_size ** 2 * vc.in_channels * vc.temporal_patch_size * vc.patch_size ** 2
        return PixelInput(str(self.pixel_dtype).replace("torch.", ""), values * self.pixel_dtype.itemsize)

    # -- vision reuse (models/vision_reuse.py) --------------------------------------------------------------
    def set_vision_reuse(self, enabled: bool) -> None:
        self.vision_cache = VisionFeatureCache(reuse=bool(enabled) and self.vision_reuse_veto is None)

    @contextlib.contextmanager
    def probe_vision_cache(self, cache: VisionFeatureCache, digests: list[str]):
        """The installed encoder reads ``cache`` and ``digests`` inside the block (the run's cache is untouched)."""
        saved = self.vision_cache, self._digests
        self.vision_cache, self._digests = cache, digests
        try:
            yield
        finally:
            self.vision_cache, self._digests = saved

    # -- run-start self-checks (models/fast_path_checks.py) --------------------------------------------------
    def self_checks(self, mode: str = "generate", reuse_vision: bool = True,
                    generation: GenerationSettings = GenerationSettings()):
        yield from self._fast_path_checks(mode, reuse_vision, generation)
        self.vision_attention.calls = {"batched": 0, "stock": 0}  # run.json counts the run's tower calls only

    def _fast_path_checks(self, mode: str, reuse_vision: bool, generation: GenerationSettings):
        yield from vision_checks(self, reuse_vision)
        yield from padding_checks(self, mode, generation)

    def end_batch(self) -> None:
        self.vision_cache.end_batch()

    def vision_counts(self) -> dict[str, int]:
        return self.vision_cache.counts.as_dict()

    def attention_info(self) -> dict:
        text_cfg = getattr(self.hf_model.config, "text_config", self.hf_model.config)
        info = attention_report(self.vision_attention, str(text_cfg._attn_implementation), self.cfg.choice_padding,
                                self.device)
        if self.cfg.generate_padding == "right" and self.generate_fallback is None:
            info["llm_generate_prefill"] = (f"{text_cfg._attn_implementation} with no mask (right padding, greedy "
                                            f"loop of models/greedy_right.py); decode steps with a 2-D padding mask")
        elif self.cfg.generate_padding == "right":  # the generation settings are fixed per run: all batches fell back
            info["llm_generate_fallback"] = self.generate_fallback
        return info

    def prepare(self, conversations: list[Messages]) -> Any:
        return self.preparer()(conversations)

    def _to_device(self, prepared: Any) -> dict[str, Any]:
        """Model inputs on the device (the preparer's image digests are not a model input)."""
        return {k: v.to(self.device) if isinstance(v, torch.Tensor) else v
                for k, v in prepared.items() if k != DIGEST_KEY}

    @contextlib.contextmanager
    def _call_inputs(self, prepared: Any):
        """Device inputs for one model call; the batch's image digests are visible to the vision encoder only
        during this call, so a direct ``hf_model`` call elsewhere can never pick up another batch's digests."""
        self._digests = prepared.get(DIGEST_KEY) if self.vision_cache.reuse else None
        try:
            yield self._to_device(prepared)
        finally:
            self._digests = None

    @torch.inference_mode()
    def generate(self, prepared: Any, settings: GenerationSettings) -> list[ModelOutput]:
        from transformers import GenerationConfig

        gen_cfg = GenerationConfig(
            max_new_tokens=settings.max_new_tokens,
            do_sample=settings.do_sample,
            repetition_penalty=settings.repetition_penalty,
            eos_token_id=self.eos_token_id,
            pad_token_id=self.pad_token_id,
        )
        if self.cfg.generate_padding == "right" and self._right_greedy_is_exact(gen_cfg, settings):
            batch = right_padded(prepared)
            with self._call_inputs(batch) as inputs, self._generation_context(inputs):
                new_tokens = greedy_right(self.hf_model, inputs, settings.max_new_tokens, self.eos_token_id,
                                          self.pad_token_id)
        else:
            with self._call_inputs(prepared) as inputs, self._generation_context(inputs):
                out = self.hf_model.generate(**inputs, generation_config=gen_cfg)
            new_tokens = out[:, inputs["input_ids"].shape[1]:]
        texts = self.processor.batch_decode(new_tokens, skip_special_tokens=True)
        routing = self._routing_records() or [None] * len(texts)
        n_prompt = inputs["attention_mask"].sum(dim=1).tolist()
        return [
            ModelOutput(text=t, routing=r, n_prompt_tokens=int(n)) for t, r, n in zip(texts, routing, n_prompt)
        ]

    def _right_greedy_is_exact(self, gen_cfg: Any, settings: GenerationSettings) -> bool:
        """Whether our right-padded greedy loop is what HF ``generate`` would do (asked once per generation
        settings, not per batch); the first time it is not, the reason is logged once and kept for ``run.json``
        (``attention.llm_generate_fallback``)."""
        if settings not in self._greedy_reasons:
            self._greedy_reasons[settings] = plain_greedy_reason(self.hf_model, gen_cfg, self.device)
        reason = self._greedy_reasons[settings]
        if reason is not None and self.generate_fallback is None:
            self.generate_fallback = f"model.generate_padding=right fell back to HF generate (left padding): {reason}"
            log.warning(self.generate_fallback)
        return reason is None

    def letter_token_ids(self, letters: list[str]) -> list[int]:
        """The single token id of each option letter (as the model would write it first)."""
        tok = self.processor.tokenizer
        ids = []
        for letter in letters:
            enc = tok.encode(letter, add_special_tokens=False)
            if len(enc) != 1:
                raise ValueError(f"option letter {letter!r} is not a single token for this tokenizer: {enc}")
            ids.append(enc[0])
        return ids

    def _last_token_logits(self, prepared: Any) -> torch.Tensor:
        """``[B, V]`` fp32 logits of each row's last prompt token (one prefill, only those rows through lm_head).

        ``left``: the left-padded batch with its mask. ``right``: the same tokens right-padded and no mask (causal
        attention is exact for real tokens; SDPA runs ``is_causal`` with no 4D mask); the routing spans still come
        from the real tokens (the mask is handed to the routing context, not to the model). No KV cache is kept
        (``use_cache=False``): one forward needs none, and at the 7B shape it would hold about 57 KB per token."""
        if self.cfg.choice_padding == "left":
            with self._call_inputs(prepared) as inputs, self._generation_context(inputs):
                return self.hf_model(**inputs, logits_to_keep=1, use_cache=False).logits[:, -1, :].float()
        batch = right_padded(prepared)
        last = last_real_positions(batch["attention_mask"]).to(self.device)
        with self._call_inputs(batch) as inputs, self._generation_context(inputs):
            model_inputs = {k: v for k, v in inputs.items() if k != "attention_mask"}
            hidden = self.hf_model.model(**model_inputs, attention_mask=None, use_cache=False).last_hidden_state
            rows = torch.arange(hidden.shape[0], device=hidden.device)
            return self.hf_model.lm_head(hidden[rows, last]).float()

    @torch.inference_mode()
    def score_choices(self, prepared: Any, letters: list[list[str]]) -> list[ModelOutput]:
        logits = self._last_token_logits(prepared)
        logprobs = torch.log_softmax(logits, dim=-1)
        routing = self._routing_records() or [None] * len(letters)
        outputs = []
        for row, row_letters in enumerate(letters):
            ids = self.letter_token_ids(row_letters)
            scores = {L: float(logprobs[row, i]) for L, i in zip(row_letters, ids)}
            best = max(scores, key=scores.get)
            outputs.append(ModelOutput(text=best, choice_logprobs=scores, routing=routing[row]))
        return outputs


def load_qwen2_vl(cfg: ModelConfig, local_path: str | None = None) -> Qwen2VLModel:
    """A Qwen2-VL checkpoint (``local_path``, else ``model.path`` resolved) with its weights checked: checksums and
    header dtypes before ``from_pretrained``, finite values of every loaded parameter right after (one reduction per
    tensor, on the model's device)."""
    path = local_path or resolve_checkpoint(cfg.path, cfg.revision, what="model.path")
    check_checkpoint_dir(path)
    model = Qwen2VLModel(cfg, local_path=path)
    check_finite(model.hf_model.named_parameters(), where=path)
    return model
