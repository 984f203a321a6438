"""Resolving a checkpoint reference (local directory or hub id) and fingerprinting its weights.

Checks run before any weights load, so a bad path or an unreachable hub stops with one clear sentence.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from awaker_eval.atomic_io import write_text_atomic
from awaker_eval.models.hub_access import offline_unless_reachable


class CheckpointNotFound(RuntimeError):
    """A model path / hub id cannot be resolved; the message says what to fix."""


def looks_like_local_path(ref: str) -> bool:
    return ref.startswith(("/", "./", "../", "~")) or os.path.exists(os.path.expanduser(ref))


def resolve_checkpoint(
    ref: str | None, revision: str | None = None, what: str = "model.path", allow_patterns: list[str] | None = None
) -> str:
    """Return a local directory for ``ref``: an existing local dir, or a hub snapshot (downloaded or cached).

    ``allow_patterns`` limits what is fetched (e.g. only ``config.json`` for a cheap reachability check)."""
    if not ref:
        raise CheckpointNotFound(f"{what} is not set: pass {what}=/path/to/checkpoint or a hub id")
    if looks_like_local_path(ref):
        path = Path(os.path.expanduser(ref))
        if not path.exists():
            raise CheckpointNotFound(f"{what}={ref!r} does not exist: pass an existing local directory or a hub id")
        return str(path)
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    offline_unless_reachable()  # an unreachable hub: offline at once, no retry storm
    try:
        return snapshot_download(ref, revision=revision, allow_patterns=allow_patterns)
    except LocalEntryNotFoundError as exc:
        raise CheckpointNotFound(
            f"{what}={ref!r} (revision {revision or 'main'}) is not in the local Hugging Face cache and the hub "
            f"cannot be reached (offline mode or no network): download it on a connected machine "
            f"(`hf download {ref}`) or pass a local directory"
        ) from exc
    except Exception as exc:  # repository not found, auth errors, network errors
        raise CheckpointNotFound(f"{what}={ref!r}: cannot fetch from the hub ({type(exc).__name__}: {exc})") from exc


WEIGHT_SUFFIXES = {".safetensors", ".bin", ".pt", ".json"}
DIGEST_CACHE_FILE = "file_digests.json"
_CHUNK = 8 << 20


def default_digest_cache() -> Path:
    """Where file digests are remembered between runs (beside the tiny models and synthetic data)."""
    return Path(os.path.expanduser("~/.cache/awaker_eval")) / DIGEST_CACHE_FILE


def _stat_key(path: Path) -> str:
    """What must stay equal for a remembered digest to stay valid: the resolved path, size, mtime, ctime, inode
    (a file replaced in place, even with the same size and mtime, gets a new inode or ctime)."""
    st = path.stat()
    return f"{path}|{st.st_size}|{st.st_mtime_ns}|{st.st_ctime_ns}|{st.st_ino}"


def sha256_file(path: Path) -> str:
    """Streaming SHA-256 of every byte of a file (8 MiB chunks: constant memory for a 22 GB checkpoint)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class FileDigests:
    """SHA-256 of whole files, remembered in a small JSON file keyed by ``_stat_key`` so that a multi-GB
    checkpoint is read once, not on every run. An unreadable or corrupt cache is ignored (hash again); the cache
    is rewritten atomically, keeping only entries whose file still exists."""

    def __init__(self, cache_path: Path | None = None):
        self.cache_path = Path(cache_path) if cache_path is not None else default_digest_cache()
        self._entries: dict[str, str] | None = None
        self._dirty = False

    def _load(self) -> dict[str, str]:
        if self._entries is None:
            try:
                data = json.loads(self.cache_path.read_text(encoding="utf-8"))
                self._entries = {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}
            except (OSError, ValueError, AttributeError):
                self._entries = {}
        return self._entries

    def digest(self, path: str | Path) -> str:
        path = Path(path).resolve()  # hub snapshots are symlinks into blobs/
        key = _stat_key(path)
        entries = self._load()
        if key not in entries:
            entries[key] = sha256_file(path)
            if _stat_key(path) != key:  # written while we read it: do not remember a torn digest
                del entries[key]
                raise CheckpointNotFound(f"{path} changed while it was being hashed: rerun once it is complete")
            self._dirty = True
        return entries[key]

    def save(self) -> None:
        if not self._dirty or self._entries is None:
            return
        live = {k: v for k, v in self._entries.items() if os.path.exists(k.split("|", 1)[0])}
        try:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(self.cache_path, json.dumps(live, indent=0, sort_keys=True))
        except OSError:  # a read-only cache dir only costs hashing again next time
            pass
        self._dirty = False


def weights_identity(directory: str | Path, cache_path: Path | None = None) -> str:
    """Content identity of a checkpoint directory's weight and config files: name + SHA-256 of every byte of
    each, so any changed byte anywhere (a middle tensor included) changes it. Digests are remembered by
    (path, size, mtime, ctime, inode), so a 22 GB checkpoint is hashed once, not per run."""
    digests = FileDigests(cache_path)
    out = hashlib.sha256()
    root = Path(directory)
    files = sorted(p for p in root.iterdir() if p.suffix in WEIGHT_SUFFIXES and p.is_file())
    for path in files:
        out.update(f"{path.name}:{digests.digest(path)}\n".encode())
    digests.save()
    return out.hexdigest()[:16]


def fingerprint_hash(fp: dict) -> str:
    """Stable short hash of a fingerprint dict."""
    return hashlib.sha256(json.dumps(fp, sort_keys=True, default=str).encode()).hexdigest()[:16]
