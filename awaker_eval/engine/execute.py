"""Running one prepared batch on the model, with fault isolation.

An out-of-memory batch is retried split in halves (rebuilt from the samples, recursively); any other failure of a
multi-sample batch is bisected the same way so that only the sample that really fails is recorded with its error
(over-long prompts, odd inputs). A single failing sample becomes ``ModelOutput(text=None, error=...)``.

``NotImplementedError`` from the model means "this backend cannot do this mode" (e.g. choice scoring on a server
without logprobs): no sample can succeed, so it stops the run at once with ``UnsupportedMode`` instead of bisecting
the batch and recording the same error on every sample.
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Callable, Sequence

import torch

from awaker_eval.engine.loader import PreparedBatch, describe_error
from awaker_eval.models.base import GenerationSettings, ModelOutput, VisionLanguageModel

log = logging.getLogger(__name__)

MODES = ("generate", "choice")


class UnsupportedMode(RuntimeError):
    """The model backend cannot run the requested engine mode at all (fatal, never a per-sample error)."""


def is_oom(exc: BaseException) -> bool:
    """torch.OutOfMemoryError, or the RuntimeError text CUDA/MPS allocators raise."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def free_accelerator_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def argmax_letter(logprobs: dict[str, float]) -> str | None:
    """The best-scoring letter; ties go to the earliest letter (dict order = option order)."""
    best, best_lp = None, float("-inf")
    for letter, lp in logprobs.items():
        if lp > best_lp:
            best, best_lp = letter, lp
    return best


class BatchExecutor:
    """Calls ``generate`` or ``score_choices`` for a PreparedBatch and returns an output for every position."""

    def __init__(
        self,
        model: VisionLanguageModel,
        mode: str,
        generation: GenerationSettings,
        rebuild: Callable[[Sequence[int]], PreparedBatch],
        letters_of: Callable[[int], list[str]],
    ):
        if mode not in MODES:
            raise ValueError(f"engine mode must be one of {MODES}, got {mode!r}")
        self.model = model
        self.mode = mode
        self.generation = generation
        self.rebuild = rebuild
        self.letters_of = letters_of
        self.model_seconds = 0.0
        self.rebuild_seconds = 0.0
        self.oom_splits = 0
        self.error_splits = 0
        self._logged_error = False

    def run(self, batch: PreparedBatch) -> dict[int, ModelOutput]:
        outputs = {pos: ModelOutput(text=None, error=err) for pos, err in batch.errors.items()}
        if batch.indices:
            self._call(list(batch.indices), batch.prepared, outputs)
        return outputs

    def _model_call(self, prepared, indices: list[int]) -> list[ModelOutput]:
        if self.mode == "generate":
            outs = self.model.generate(prepared, self.generation)
        else:
            outs = self.model.score_choices(prepared, [self.letters_of(p) for p in indices])
            for out in outs:
                if out.text is None and out.error is None and out.choice_logprobs:
                    out.text = argmax_letter(out.choice_logprobs)
        if len(outs) != len(indices):
            raise RuntimeError(f"model returned {len(outs)} outputs for a batch of {len(indices)}")
        return list(outs)

    def _call(self, indices: list[int], prepared, outputs: dict[int, ModelOutput]) -> None:
        t0 = time.perf_counter()
        try:
            with torch.inference_mode():
                results = self._model_call(prepared, indices)
        except NotImplementedError as exc:
            raise UnsupportedMode(
                f"model backend {type(self.model).__name__} cannot run engine mode {self.mode!r}: {exc}. "
                f"Choose another mode (runner.mode) or backend; nothing was recorded for this batch."
            ) from exc
        except Exception as exc:
            # Only facts leave this block: the exception's traceback holds the failed call's frames (device inputs,
            # activations), so memory is freed and halves are retried after it, as PyTorch's OOM advice says.
            oom, error = is_oom(exc), describe_error(exc)
            if not oom and not self._logged_error:
                self._logged_error = True
                log.warning("model call failed on a batch of %d (bisecting to isolate it)", len(indices), exc_info=True)
        else:
            self.model_seconds += time.perf_counter() - t0
            for pos, out in zip(indices, results):
                outputs[pos] = out
            return
        self.model_seconds += time.perf_counter() - t0
        del prepared
        if oom:
            free_accelerator_memory()
        if len(indices) == 1:
            prefix = "out of memory even alone: " if oom else ""
            outputs[indices[0]] = ModelOutput(text=None, error=prefix + error)
            return
        if oom:
            self.oom_splits += 1
        else:
            self.error_splits += 1
        half = len(indices) // 2
        for part in (indices[:half], indices[half:]):
            t1 = time.perf_counter()
            sub = self.rebuild(part)
            self.rebuild_seconds += time.perf_counter() - t1
            outputs.update({pos: ModelOutput(text=None, error=err) for pos, err in sub.errors.items()})
            if sub.indices:
                self._call(list(sub.indices), sub.prepared, outputs)
