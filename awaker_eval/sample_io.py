"""The two per-sample adapters the engine calls: ``Sample -> messages`` and ``(Sample, output) -> Prediction``.

Both are small picklable dataclasses so the engine can run the encoder in DataLoader worker processes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from awaker_eval.data.images import load_images
from awaker_eval.engine.identity import prompt_keys as content_keys
from awaker_eval.extract.dispatch import extract_letter
from awaker_eval.models.base import Messages, ModelOutput
from awaker_eval.prompts import build_prompt, to_messages
from awaker_eval.tasks.base import Benchmark
from awaker_eval.types import Prediction, Sample


@dataclass(frozen=True)
class SampleEncoder:
    """Builds the benchmark prompt and the chat messages, decoding the image (raises ImageLoadError).

    ``prompt_keys`` builds every prompt text once, before inference, for the content keys the store compares;
    the texts are kept (``prompts``) so that encoding, in the workers, uses them instead of building them again."""

    bench: Benchmark  # the run's benchmark object (the entry point resolved it)
    protocol: str
    min_pixels: int | None = None
    max_pixels: int | None = None
    prompts: dict[str, str] = field(default_factory=dict, compare=False, repr=False)  # sample id -> prompt text

    def prompt_text(self, sample: Sample) -> str:
        """The benchmark's prompt for ``sample`` (also what ``awaker-eval prompts`` prints), built once."""
        text = self.prompts.get(sample.id)
        return build_prompt(sample, self.protocol, self.bench) if text is None else text

    def prompt_keys(self, samples: Sequence[Sample]) -> dict[str, str]:
        """Sample id -> key of (prompt text, image bytes), building and keeping each prompt text once."""
        self.prompts.update({s.id: build_prompt(s, self.protocol, self.bench) for s in samples})
        return content_keys(samples, self.prompt_text)

    def __call__(self, sample: Sample) -> Messages:
        text = self.prompt_text(sample)
        images = load_images(sample)
        image = images[0] if images else None
        return to_messages(sample, text, self.min_pixels, self.max_pixels, image=image)


@dataclass
class PredictionBuilder:
    """Extracts the letter with the configured rule (and optional judge) and records everything to re-score
    (the engine stamps the content key and fingerprints)."""

    bench: Benchmark  # the run's benchmark object (the pipeline resolved it)
    protocol: str
    extractor: str
    judge: Callable[..., Any] | None = None

    def __call__(self, sample: Sample, output: ModelOutput) -> Prediction:
        failed = output.error is not None or output.text is None
        raw = None if failed else output.text
        extracted = extract_letter(self.bench, raw, sample, self.extractor, self.judge)
        letter = extracted.letter
        return Prediction.of_sample(
            sample,
            prompt_hash="",  # set by the engine
            protocol_fp="",
            model_fp="",
            raw_output=raw,
            extracted=letter,
            extract_method=extracted.method,
            correct=None if sample.answer is None else (letter == sample.answer),
            error=output.error or extracted.error,  # a failed judge call fails the pass (retried on rerun)
            choice_logprobs=output.choice_logprobs,
            routing=output.routing,
        )
