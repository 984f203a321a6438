"""What the sample browser and the comparison page show beside a prediction: a thumbnail of its image and the
exact prompt text the run sent.

Thumbnails are made at report time from the run's samples (the pipeline hands over the ones it has just run;
``awaker-eval report`` reuses what an earlier report wrote, or loads the data when it is local): small JPEGs under
``RUN_DIR/thumbs/``, named by the SHA-256 of the image bytes (the digest the run's prompt key is made of), so a
thumbnail is made once per distinct image and never again. ``thumbs/index.json`` maps each image key to its
digest and thumbnail.

The prompt is rebuilt from the prediction record (question, options, hint: what ``Prediction.of_sample``
stores) with the run's own protocol code, ``prompts.build_prompt``, the function the run's ``SampleEncoder`` and
``awaker-eval prompts`` call. It is *exact* when the content key of (rebuilt text, image digests) equals the
``prompt_hash`` the run stored with the prediction: the same key the store compares before reusing an answer.
"""

from __future__ import annotations

import io
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence
from urllib.parse import quote

from PIL import Image

from awaker_eval.atomic_io import write_text_atomic
from awaker_eval.data.fetch import is_local
from awaker_eval.data.registry import load_samples
from awaker_eval.engine.identity import content_key, image_digests
from awaker_eval.prompts import build_prompt
from awaker_eval.report.runs import benchmark_config
from awaker_eval.tasks.base import Benchmark
from awaker_eval.types import Choice, ImageRef, Prediction, Sample

THUMBS_DIR = "thumbs"
INDEX_FILE = "index.json"
THUMB_SIDE = 256  # longest side, px
THUMB_QUALITY = 72
INDEX_VERSION = 1

# prompt status: how far the shown text is known to be the run's
EXACT, REBUILT, DIFFERS, MISSING = "exact", "rebuilt", "differs", "missing"
PROMPT_NOTES = {
    EXACT: "exact: rebuilt with the run's protocol code, and its key equals the prompt_hash the run stored",
    REBUILT: "rebuilt with the run's protocol code from the prediction record; not checked against the run's "
             "prompt_hash (the image bytes were not available)",
    DIFFERS: "rebuilt, but its key differs from the prompt_hash the run stored: the data or the prompt code "
             "changed since the run",
    MISSING: "could not be rebuilt",
}


def image_key(p: Prediction) -> str | None:
    """The key of the first image the sample was shown with (``Sample.record_extra``), None without images."""
    key = (p.extra or {}).get("image_key")
    return None if key is None else str(key)


@dataclass
class SampleMedia:
    """Image digests and thumbnails of one run directory (``thumbs/index.json``)."""

    run_dir: Path
    images: dict[str, dict] = field(default_factory=dict)  # image key -> {"sha256", "thumb" (file name or None)}
    multi: dict[str, list[str]] = field(default_factory=dict)  # sample id -> image keys, for none or 2+ images

    @property
    def thumbs_dir(self) -> Path:
        return self.run_dir / THUMBS_DIR

    def thumb(self, p: Prediction) -> Path | None:
        """The thumbnail file of ``p``'s (first) image, when one was made."""
        entry = self.images.get(image_key(p) or "")
        name = entry.get("thumb") if entry else None
        return self.thumbs_dir / name if name else None

    def original(self, p: Prediction) -> Path | None:
        """The image file ``p`` was shown (when its image was a file on disk)."""
        entry = self.images.get(image_key(p) or "")
        return Path(entry["path"]) if entry and entry.get("path") else None

    def digests(self, p: Prediction) -> list[str] | None:
        """The byte digests of every image ``p`` was shown with ([] without images), None when unknown."""
        if p.id in self.multi:
            keys = self.multi[p.id]
        elif image_key(p) is not None:
            keys = [image_key(p)]
        else:  # no image recorded: a sample without images, or a record older than image_key
            return None
        entries = [self.images.get(k) for k in keys]
        if any(e is None or str(e.get("sha256", "")).startswith("unreadable:") for e in entries):
            return None
        return [e["sha256"] for e in entries]

    def save(self) -> None:
        self.thumbs_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.thumbs_dir / INDEX_FILE, json.dumps(
            {"version": INDEX_VERSION, "images": self.images, "multi": self.multi}, sort_keys=True))


def load_media(run_dir: Path) -> SampleMedia | None:
    """The index an earlier report wrote, or None."""
    try:
        data = json.loads((Path(run_dir) / THUMBS_DIR / INDEX_FILE).read_text(encoding="utf-8"))
        if data.get("version") != INDEX_VERSION:
            return None
        return SampleMedia(Path(run_dir), dict(data.get("images") or {}), dict(data.get("multi") or {}))
    except (OSError, ValueError, AttributeError):
        return None


def _thumbnail(ref: ImageRef, target: Path) -> bool:
    """Decode ``ref`` at reduced size (JPEG draft mode) and write a JPEG of at most THUMB_SIDE px."""
    try:
        img = Image.open(io.BytesIO(ref.encoded_bytes()))
        img.draft("RGB", (2 * THUMB_SIDE, 2 * THUMB_SIDE))
        img = img.convert("RGB")
        img.thumbnail((THUMB_SIDE, THUMB_SIDE))
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        img.save(tmp, "JPEG", quality=THUMB_QUALITY, optimize=True)
        os.replace(tmp, target)
        return True
    except Exception:  # an image the run could not decode either: shown as missing, never a failed report
        return False


def build_media(run_dir: Path, samples: Sequence[Sample], workers: int = 4) -> SampleMedia:
    """Thumbnails of every distinct image of ``samples`` under ``run_dir/thumbs`` (made once per digest: an
    existing file is kept) and the index, merged into the one already there."""
    media = load_media(run_dir) or SampleMedia(Path(run_dir))
    refs = list(dict.fromkeys(ref for s in samples for ref in s.images))
    digests = image_digests(refs) if refs else {}
    media.thumbs_dir.mkdir(parents=True, exist_ok=True)
    todo: dict[str, tuple[ImageRef, Path]] = {}
    for ref in refs:
        sha = digests[ref]
        name = None if sha.startswith("unreadable:") else f"{sha[:32]}.jpg"
        media.images[ref.key] = {"sha256": sha, "thumb": name, "path": ref.path and str(Path(ref.path).resolve())}
        if name and not (media.thumbs_dir / name).is_file():
            todo.setdefault(name, (ref, media.thumbs_dir / name))
    if todo:
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(todo)))) as pool:
            made = dict(zip(todo, pool.map(lambda job: _thumbnail(*job), todo.values())))
        for entry in media.images.values():
            if entry.get("thumb") in made and not made[entry["thumb"]]:
                entry["thumb"] = None
    for s in samples:
        if len(s.images) != 1:
            media.multi[s.id] = [ref.key for ref in s.images]
    media.save()
    return media


def local_samples(bench: Benchmark, config: dict) -> list[Sample] | None:
    """The run's samples when its data is on this machine (the embedded synthetic set, a local file or folder):
    never a download. None otherwise, or when loading fails. ``bench``: the run's benchmark object."""
    raw = (config or {}).get("benchmark") or {}
    local = raw.get("layout") == "synthetic" or (raw.get("source") and is_local(str(raw["source"])))
    if not local:
        return None
    try:
        return load_samples(bench, benchmark_config(raw))
    except Exception:  # the data moved or changed: the browser shows what the predictions hold
        return None


def run_media(run_dir: Path, bench: Benchmark, config: dict, predictions: Iterable[Prediction],
              samples: Sequence[Sample] | None = None) -> SampleMedia:
    """The media of a run: made from ``samples`` when given; else an earlier index covering the predictions'
    images; else made from the run's data when it is local; else empty (no thumbnails, prompts unchecked)."""
    if samples is not None:
        return build_media(run_dir, samples)
    media = load_media(run_dir)
    keys = {image_key(p) for p in predictions} - {None}
    if media is not None and keys <= set(media.images):
        return media
    loaded = local_samples(bench, config)
    if loaded is not None:
        wanted = {p.id for p in predictions}
        loaded = [s for s in loaded if s.id in wanted]
        if loaded:
            return build_media(run_dir, loaded)
    return media or SampleMedia(Path(run_dir))


def sample_of(p: Prediction, language: str) -> Sample:
    """The Sample fields a prompt is built from, as the prediction recorded them."""
    extra = dict(p.extra or {})
    return Sample(id=p.id, benchmark=p.benchmark, language=language, question=p.question or "",
                  choices=tuple(Choice(*row) for row in p.choices), answer=p.answer, hint=extra.get("hint"),
                  task=p.task, subtask=p.subtask, category=p.category, l2_category=p.l2_category, group=p.group,
                  cluster=p.cluster, extra=extra)


def exact_prompt(p: Prediction, bench: Benchmark, language: str, protocol: str,
                 media: SampleMedia) -> tuple[str, str]:
    """(prompt text, status): ``exact`` when its content key equals the run's ``prompt_hash``."""
    try:
        text = build_prompt(sample_of(p, language), protocol, bench)
    except Exception as exc:
        return f"({type(exc).__name__}: {exc})", MISSING
    digests = media.digests(p)
    if digests is None:
        return text, REBUILT
    return text, EXACT if content_key(text, digests) == p.prompt_hash else DIFFERS


def relative_url(target: Path, page_dir: Path) -> str:
    """``target`` as a link from a page in ``page_dir`` (file:// pages load relative paths)."""
    rel = os.path.relpath(Path(target).resolve(), Path(page_dir).resolve())
    return "/".join(quote(part) for part in Path(rel).parts)
