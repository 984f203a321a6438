"""Content identity of samples and stored predictions: when a stored prediction may be reused, and why not.

A stored prediction is reused only when everything that made it is unchanged: the prompt (its text and the bytes
of its images), the answer and the options it was scored against, the protocol fingerprint and the model's
weights fingerprint. The prompt key is computed once per sample, before inference; image bytes are hashed once
per distinct image.

Labels that no model output depends on (task, subtask, category, scoring unit, cluster) are not part of the
content: a reused prediction takes them from the current sample ("relabelled"), so an edited split or category is
scored as a fresh run would score it, without inference.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

from awaker_eval.engine.store import better_entry
from awaker_eval.models.loading import FileDigests
from awaker_eval.types import ImageRef, Prediction, Sample, choice_rows

# Why a stored prediction was not reused, checked in this order (the first that applies is counted).
REASONS = ("model", "protocol", "answer", "options", "prompt/image")
# Record fields a prediction copies from its sample that no content key covers: what it is scored under (split,
# taxonomy, scoring unit, bootstrap cluster), never what the model saw.
LABEL_FIELDS = ("benchmark", "task", "subtask", "category", "l2_category", "group", "cluster")


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


def content_key(text: str, digests: Sequence[str]) -> str:
    """The key of one prompt: its text and the byte digests of its images (``Prediction.prompt_hash``)."""
    return _digest({"text": text, "images": list(digests)})


def prompt_keys(samples: Sequence[Sample], prompt_text: Callable[[Sample], str]) -> dict[str, str]:
    """Sample id -> key of (prompt text, image byte digests)."""
    images = image_digests(ref for s in samples for ref in s.images)
    return {s.id: content_key(prompt_text(s), [images[r] for r in s.images]) for s in samples}


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


@dataclass
class StoreView:
    """The stored predictions that match the samples' content, by id, with the current samples' labels."""

    predictions: dict[str, Prediction] = field(default_factory=dict)
    invalidated: dict[str, int] = field(default_factory=dict)  # samples whose stored entries were all stale, by reason
    relabelled: list[str] = field(default_factory=list)  # ids whose chosen entry carried other labels


def labels_of(item: Prediction | Sample) -> tuple:
    return tuple(getattr(item, name) for name in LABEL_FIELDS)


def relabel(pred: Prediction, sample: Sample) -> Prediction:
    """``pred`` with ``sample``'s labels (and record extras): what the sample's fresh prediction would record."""
    return dataclasses.replace(pred, **{name: getattr(sample, name) for name in LABEL_FIELDS},
                               extra={**pred.extra, **sample.record_extra()})


def _preferred(new: Prediction, old: Prediction, sample: Sample) -> bool:
    """A success beats a failure; then an entry with the sample's labels beats one without (the relabelled copy an
    earlier rerun appended); otherwise the first one written stays."""
    if better_entry(new, old) or better_entry(old, new):
        return better_entry(new, old)
    return labels_of(old) != labels_of(sample) and labels_of(new) == labels_of(sample)


def current_predictions(
    samples: Sequence[Sample], stored: Iterable[Prediction], keys: Mapping[str, str], protocol_fp: str, model_fp: str,
) -> StoreView:
    """The stored predictions that match the samples' content (relabelled where the labels changed), and how many
    samples had stored entries that were all stale, by reason (the reason of the latest entry written)."""
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
        if old is None or _preferred(pred, old, sample):
            found[pred.id] = pred
    moved = [sid for sid, pred in found.items() if labels_of(pred) != labels_of(by_id[sid])]
    found.update({sid: relabel(found[sid], by_id[sid]) for sid in moved})
    counts = Counter(reason for sid, reason in last_stale.items() if sid not in found)
    return StoreView(found, {r: counts[r] for r in REASONS if counts[r]}, moved)


def stale_line(invalidated: Mapping[str, int]) -> str | None:
    """One line about the stale stored predictions a run recomputes (None when there were none)."""
    if not invalidated:
        return None
    why = ", ".join(f"{reason} changed: {n}" for reason, n in invalidated.items())
    return f"{sum(invalidated.values())} stored prediction(s) were stale and are recomputed ({why})"


def resume_line(reused: int, computing: int) -> str:
    """What a resumed run takes from the store and what it still computes: a rerun says what it reused, rather
    than a bar counting only the rest (or an empty bar when nothing is left)."""
    return f"reusing {reused} stored predictions, computing {computing}"


def relabel_line(relabelled: int) -> str | None:
    """One line about the stored predictions reused under the labels the data now gives them (None when none)."""
    if not relabelled:
        return None
    return (f"{relabelled} stored prediction(s) are reused with the labels the data now gives them (task, subtask, "
            "category, scoring unit: relabelled, not recomputed, as no model input changed)")
