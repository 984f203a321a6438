"""Content identity of samples and stored predictions: when a stored prediction may be reused, and why not.

A stored prediction is reused only when everything that made it is unchanged: the prompt (its text and the bytes
of its images), the answer and the options it was scored against, the protocol fingerprint and the model's
weights fingerprint. The prompt key is computed once per sample, before inference; image bytes are hashed once
per distinct image.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Mapping, Sequence

from awaker_eval.engine.store import better_entry
from awaker_eval.models.loading import FileDigests
from awaker_eval.types import ImageRef, Prediction, Sample, choice_rows

# Why a stored prediction was not reused, checked in this order (the first that applies is counted).
REASONS = ("model", "protocol", "answer", "options", "prompt/image")


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def image_digest(ref: ImageRef, files: FileDigests | None = None) -> str:
    """SHA-256 of the encoded image bytes (raises ImageLoadError / OSError when they cannot be read). A file on
    disk goes through ``files``, which remembers digests by (path, size, mtime, ctime, inode)."""
    if ref.path is not None and files is not None:
        return files.digest(ref.path)
    return hashlib.sha256(ref.encoded_bytes()).hexdigest()


def image_digests(refs: Iterable[ImageRef], workers: int = 8) -> dict[ImageRef, str]:
    """Digest of each distinct image, hashed in a thread pool (hashlib releases the GIL on large buffers, and
    reads overlap). An unreadable image gets a digest naming the failure, so its sample is recomputed (and fails
    there, recorded) instead of stopping the run here."""
    files = FileDigests()

    def one(ref: ImageRef) -> str:
        try:
            return image_digest(ref, files)
        except Exception as exc:  # recorded when the encoder meets it; never reused as "unchanged"
            return f"unreadable:{type(exc).__name__}:{exc}"

    distinct = list(dict.fromkeys(refs))
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(distinct)))) as pool:
        digests = dict(zip(distinct, pool.map(one, distinct)))
    files.save()
    return digests


def sample_fields_text(sample: Sample) -> str:
    """The prompt-relevant fields of a sample as one text: the prompt stand-in for encoders that are plain
    functions (engine tests, perf runs), whose prompt text the engine cannot ask for."""
    return json.dumps([sample.question, sample.hint, choice_rows(sample.choices), sample.language],
                      ensure_ascii=False)


def prompt_keys(samples: Sequence[Sample], prompt_text: Callable[[Sample], str]) -> dict[str, str]:
    """Sample id -> key of (prompt text, image byte digests)."""
    images = image_digests(ref for s in samples for ref in s.images)
    return {s.id: _digest({"text": prompt_text(s), "images": [images[r] for r in s.images]}) for s in samples}


def data_digest(samples: Sequence[Sample], keys: Mapping[str, str]) -> str:
    """One digest of the loaded data's content: ids, answers, options, questions and prompt keys (which cover
    the images' bytes). Two TSVs with the same path but different content get different digests."""
    return _digest([[s.id, s.answer, choice_rows(s.choices), s.question, keys[s.id]] for s in samples])


def stale_reason(pred: Prediction, sample: Sample, prompt_key: str, protocol_fp: str, model_fp: str) -> str | None:
    """None when ``pred`` was made from exactly this content, else the first reason of ``REASONS`` that applies."""
    if pred.model_fp != model_fp:
        return "model"
    if pred.protocol_fp != protocol_fp:
        return "protocol"
    if pred.answer != sample.answer:
        return "answer"
    if [list(row) for row in pred.choices] != choice_rows(sample.choices):
        return "options"
    if pred.prompt_hash != prompt_key:
        return "prompt/image"
    return None


def current_predictions(
    samples: Sequence[Sample], stored: Iterable[Prediction], keys: Mapping[str, str], protocol_fp: str, model_fp: str,
) -> tuple[dict[str, Prediction], dict[str, int]]:
    """The stored predictions that match the samples' content, by id, and how many samples had stored entries
    that were all stale, by reason (the reason of the latest entry written for that sample)."""
    by_id = {s.id: s for s in samples}
    found: dict[str, Prediction] = {}
    last_stale: dict[str, str] = {}
    for pred in stored:
        sample = by_id.get(pred.id)
        if sample is None:
            continue
        reason = stale_reason(pred, sample, keys[pred.id], protocol_fp, model_fp)
        if reason is not None:
            last_stale[pred.id] = reason
            continue
        old = found.get(pred.id)
        if old is None or better_entry(pred, old):
            found[pred.id] = pred
    counts = Counter(reason for sid, reason in last_stale.items() if sid not in found)
    return found, {r: counts[r] for r in REASONS if counts[r]}


def stale_line(invalidated: Mapping[str, int]) -> str | None:
    """One line about the stale stored predictions a run recomputes (None when there were none)."""
    if not invalidated:
        return None
    why = ", ".join(f"{reason} changed: {n}" for reason, n in invalidated.items())
    return f"{sum(invalidated.values())} stored prediction(s) were stale and are recomputed ({why})"
