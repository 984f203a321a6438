"""The model contract: chat messages in, text / choice scores out. Models know nothing of benchmarks."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

# One conversation in the Qwen2-VL / OpenAI chat layout, e.g.
# [{"role": "user", "content": [{"type": "image", "image": <PIL.Image>, "min_pixels": ..., "max_pixels": ...},
#                               {"type": "text", "text": "..."}]}]
Messages = list[dict[str, Any]]


@dataclass(frozen=True)
class GenerationSettings:
    """Decoding settings; greedy unless ``do_sample``. Part of the protocol fingerprint."""

    max_new_tokens: int = 16
    do_sample: bool = False
    repetition_penalty: float = 1.0


# Qwen2-VL's processor: 4 patches per visual token (2x2 merge) of 3 channels x 2 frames x 14 x 14 values, fp32.
QWEN2_VL_PIXEL_VALUES_PER_TOKEN = 4 * 3 * 2 * 14 * 14


@dataclass(frozen=True)
class PixelInput:
    """The pixel tensor a preparer hands over (engine/host_memory.py budgets the batches in flight by it)."""

    dtype: str | None  # element type ("float32", "bfloat16"); None for a backend that sends no pixel tensor
    bytes_per_visual_token: int


@dataclass
class ModelOutput:
    """What a model returns for one conversation."""

    text: str | None
    choice_logprobs: dict[str, float] | None = None
    routing: dict[str, Any] | None = None
    n_prompt_tokens: int | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class VisionLanguageModel(ABC):
    """A loaded model. ``prepare`` is CPU work (processor, tokenizer) and may run in DataLoader workers, so
    the object it returns must be picklable; ``generate`` / ``score_choices`` run on the model's device."""

    @abstractmethod
    def fingerprint(self) -> dict[str, Any]:
        """Identity of the weights + adapter config + dtype: changes whenever outputs could change."""

    @abstractmethod
    def prepare(self, conversations: list[Messages]) -> Any:
        """Turn conversations into model inputs (tokenised, images processed, left padded)."""

    @abstractmethod
    def generate(self, prepared: Any, settings: GenerationSettings) -> list[ModelOutput]:
        """Generate one continuation per conversation, in input order."""

    def score_choices(self, prepared: Any, letters: list[list[str]]) -> list[ModelOutput]:
        """Log-probabilities of each option letter as the first answer token, one forward pass."""
        raise NotImplementedError(f"{type(self).__name__} does not support choice scoring")

    def set_vision_reuse(self, enabled: bool) -> None:
        """Reuse an image's vision features across the questions that show it (a no-op for backends without a
        local vision tower). Never changes outputs."""

    def end_batch(self) -> None:
        """The engine finished a planned batch (backends that cache per-image work release what it left)."""

    def vision_counts(self) -> dict[str, int] | None:
        """``{"vision_images_encoded", "vision_images_reused"}`` since ``set_vision_reuse``; None without a tower."""
        return None

    def attention_info(self) -> dict[str, Any] | None:
        """Which attention paths the local model runs (vision tower, LLM prefill), for ``run.json``; None remote."""
        return None

    def self_checks(self, mode: str = "generate", reuse_vision: bool = True,
                    generation: GenerationSettings = GenerationSettings()):
        """The ``models.self_checks.SelfCheck`` of every enabled path that replaces a reference computation, for
        a run in ``mode`` (run once after loading, before the first batch; may be a generator, each check settled
        before the next is asked for); none for a backend without local fast paths."""
        return []

    def preparer(self) -> Any:
        """A picklable callable ``conversations -> prepared`` for DataLoader workers (default: self.prepare)."""
        return self.prepare

    def pixel_input(self) -> PixelInput:
        """What one visual token costs in a prepared batch. Default: Qwen2-VL's processor output in fp32."""
        return PixelInput("float32", QWEN2_VL_PIXEL_VALUES_PER_TOKEN * 4)

    def visual_tokens(self, width: int, height: int, min_pixels: int | None, max_pixels: int | None) -> int:
        """Prompt tokens one image of this size becomes, from its size alone (the engine batches by this budget
        without decoding pixels). Default: Qwen2-VL geometry, qwen_vl_utils resizing to multiples of 28 px and one
        token per 28x28 px (14-px patches merged 2x2); override for other geometries."""
        from qwen_vl_utils import smart_resize

        h, w = smart_resize(height, width, factor=28, min_pixels=min_pixels, max_pixels=max_pixels)
        return (h // 28) * (w // 28)
