"""Crash-safe prediction store: one append-only JSONL file per rank under ``<run_dir>/shards/``.

Why this layout: every rank appends only to its own file, each batch is written as one ``write`` followed by
``flush`` + ``fsync``, so a crash (SIGKILL included) loses at most the batch in flight. A torn last line (no
trailing newline, or not valid JSON) is ignored by readers and cut off by the next writer of that file before it
appends, so it can never glue onto a new line. Readers read *every* shard file, so a run resumed with a different
number of processes still finds all finished work. Which stored entries are still current (same prompt, images,
answer, options, protocol and weights) is decided by ``engine.identity``; stale entries stay in the files, unused.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from awaker_eval.atomic_io import write_text_atomic
from awaker_eval.types import Prediction

log = logging.getLogger(__name__)

SHARD_DIR = "shards"
MERGED_FILE = "predictions.jsonl"
_FIELDS = {f.name for f in dataclasses.fields(Prediction)}

def prediction_to_json(pred: Prediction) -> str:
    """One JSON line (no newline); non-ASCII kept readable (Chinese benchmarks)."""
    return json.dumps(dataclasses.asdict(pred), ensure_ascii=False, sort_keys=False)


def prediction_from_dict(obj: dict) -> Prediction:
    """Build a Prediction, ignoring keys this version does not know (files written by newer versions)."""
    return Prediction(**{k: v for k, v in obj.items() if k in _FIELDS})


def shard_path(run_dir: Path, rank: int, tag: str = "") -> Path:
    """This rank's file; a job-array shard's files carry its tag (``predictions.rank0.part1of3.jsonl``)."""
    return Path(run_dir) / SHARD_DIR / f"predictions.rank{rank}{'.' + tag if tag else ''}.jsonl"


def shard_files(run_dir: Path) -> list[Path]:
    """All shard files of a run, in a stable order (rank number, then name)."""
    files = list((Path(run_dir) / SHARD_DIR).glob("predictions.rank*.jsonl"))

    def rank_of(p: Path) -> tuple[int, str]:
        stem = p.name[len("predictions.rank"):-len(".jsonl")]
        return (int(stem) if stem.isdigit() else 1 << 30, p.name)

    return sorted(files, key=rank_of)


def read_jsonl_predictions(path: Path) -> Iterator[Prediction]:
    """Complete, valid lines of one file; a torn or corrupt line is skipped with a warning naming file and line."""
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.endswith(b"\n"):
                log.warning("%s:%d: torn last line (interrupted write) ignored", path, lineno)
                break
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
                pred = prediction_from_dict(obj)
            except (ValueError, TypeError) as exc:
                log.warning("%s:%d: unreadable line ignored (%s)", path, lineno, exc)
                continue
            yield pred


def better_entry(new: Prediction, old: Prediction) -> bool:
    """Which of two entries for one sample wins: a success beats a failure, otherwise the first one written stays."""
    return old.error is not None and new.error is None


def iter_stored(run_dir: Path) -> Iterator[Prediction]:
    """Every readable entry of every shard file, in file order (rank order, then line order)."""
    for path in shard_files(run_dir):
        yield from read_jsonl_predictions(path)


def load_predictions(run_dir: Path, protocol_fp: str | None = None, model_fp: str | None = None) -> dict[str, Prediction]:
    """Finished predictions by sample id, from every shard file, restricted to the given fingerprints."""
    found: dict[str, Prediction] = {}
    for pred in iter_stored(run_dir):
        if protocol_fp is not None and pred.protocol_fp != protocol_fp:
            continue
        if model_fp is not None and pred.model_fp != model_fp:
            continue
        old = found.get(pred.id)
        if old is None or better_entry(pred, old):
            found[pred.id] = pred
    return found


def _cut_torn_tail(path: Path) -> None:
    """Truncate a file after its last newline so the next append starts on a fresh line."""
    size = path.stat().st_size
    if size == 0:
        return
    with open(path, "rb+") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) == b"\n":
            return
        # scan backwards for the last newline
        pos, chunk = size, 65536
        keep = 0
        while pos > 0:
            start = max(0, pos - chunk)
            fh.seek(start)
            block = fh.read(pos - start)
            idx = block.rfind(b"\n")
            if idx >= 0:
                keep = start + idx + 1
                break
            pos = start
        log.warning("%s: cutting a torn last line (%d bytes) left by an interrupted write", path, size - keep)
        fh.truncate(keep)
        fh.flush()
        os.fsync(fh.fileno())


class ShardWriter:
    """Appends whole batches of predictions to this rank's shard file, durably (flush + fsync per batch)."""

    def __init__(self, run_dir: Path, rank: int, tag: str = ""):
        self.path = shard_path(run_dir, rank, tag)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            _cut_torn_tail(self.path)
        self._fh = open(self.path, "a", encoding="utf-8")

    def append(self, preds: Iterable[Prediction]) -> None:
        text = "".join(prediction_to_json(p) + "\n" for p in preds)
        if not text:
            return
        self._fh.write(text)
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def set_aside_shards(run_dir: Path) -> Path | None:
    """Move existing shard files out of the way (``shards.old<N>``) for a run that must not resume."""
    src = Path(run_dir) / SHARD_DIR
    if not src.exists() or not any(src.iterdir()):
        return None
    n = 1
    while (dst := Path(run_dir) / f"{SHARD_DIR}.old{n}").exists():
        n += 1
    os.replace(src, dst)
    return dst


def write_merged(run_dir: Path, sample_ids: Sequence[str], preds: dict[str, Prediction]) -> Path:
    """Write ``predictions.jsonl`` in sample order, atomically (a unique temp file + rename, so two writers never
    share a temp file); every sample must be present."""
    missing = [sid for sid in sample_ids if sid not in preds]
    if missing:
        raise RuntimeError(
            f"{run_dir}: {len(missing)} samples have no prediction in {SHARD_DIR}/ (first: {missing[:5]}); "
            "a rank probably died: rerun the same command to compute only the missing ones"
        )
    lines = (prediction_to_json(preds[sid]) + "\n" for sid in sample_ids)
    return write_text_atomic(Path(run_dir) / MERGED_FILE, lines)
