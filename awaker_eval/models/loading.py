"""Resolving a checkpoint reference (local directory or hub id) and fingerprinting its weights.

Checks run before any weights load, so a bad path or an unreachable hub stops with one clear sentence.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

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


def weights_identity(directory: str | Path) -> str:
    """A cheap, content-based identity of a checkpoint directory's weight files.

    Hashes every weight file's name, size, and its first and last MiB (safetensors headers hold all tensor
    names, shapes and offsets; a changed value almost always changes the tail or the size). Reading whole
    multi-GB files for every run would cost minutes, so this is a deliberate trade-off.
    """
    digest = hashlib.sha256()
    root = Path(directory)
    files = sorted(p for p in root.iterdir() if p.suffix in {".safetensors", ".bin", ".pt", ".json"} and p.is_file())
    for path in files:
        size = path.stat().st_size
        digest.update(f"{path.name}:{size}".encode())
        with path.open("rb") as fh:
            digest.update(fh.read(1 << 20))
            if size > 2 << 20:
                fh.seek(-(1 << 20), os.SEEK_END)
                digest.update(fh.read())
    return digest.hexdigest()[:16]


def fingerprint_hash(fp: dict) -> str:
    """Stable short hash of a fingerprint dict."""
    return hashlib.sha256(json.dumps(fp, sort_keys=True, default=str).encode()).hexdigest()[:16]
