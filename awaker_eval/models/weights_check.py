"""Weights sanity on load: non-finite values, integer tensors where floats belong, and checksum mismatches stop the
run with one message naming the file and tensor, before any inference.

Why: a checkpoint with NaN in ``lm_head`` or stored as int8 otherwise loads, generates garbage and scores a
plausible-looking number with exit 0. The checks are cheap: ``torch.isfinite(t).all()`` once per tensor on the
device the tensor already sits on, safetensors headers only (no data read) for dtypes, and a streaming sha256 only
when the file or the hub cache provides the expected digest.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Iterable

import torch

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_FLOAT_DTYPES = ("F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2")  # safetensors header dtype names


class CorruptWeights(RuntimeError):
    """Weights that cannot be trusted; the message names the file, the tensor(s) and what is wrong."""


def _listing(items: list[str], shown: int = 5) -> str:
    more = f" (+{len(items) - shown} more)" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more


def nonfinite(name: str, tensor: torch.Tensor) -> str | None:
    """``"name (n NaN, m Inf)"`` when a floating tensor holds non-finite values, else None (one reduction)."""
    if not tensor.is_floating_point() or tensor.is_meta or bool(torch.isfinite(tensor).all()):
        return None
    n_nan = int(torch.isnan(tensor).sum())
    return f"{name} ({n_nan} NaN, {int((~torch.isfinite(tensor)).sum()) - n_nan} Inf)"


def check_finite(named: Iterable[tuple[str, torch.Tensor]], where: str) -> None:
    """Raise ``CorruptWeights`` listing every tensor of ``named`` that holds NaN or Inf."""
    bad = [problem for name, tensor in named if (problem := nonfinite(name, tensor))]
    if bad:
        raise CorruptWeights(f"{where}: non-finite weights in {len(bad)} tensor(s): {_listing(bad)}; the checkpoint "
                             "is corrupt, re-download or re-convert it")


def safetensors_header_dtypes(file: Path) -> dict[str, str]:
    """``tensor name -> header dtype`` of one safetensors file (header only; a corrupt header is one error)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(file), framework="pt") as fh:
            return {key: fh.get_slice(key).get_dtype() for key in fh.keys()}
    except (SafetensorError, OSError) as exc:
        raise CorruptWeights(f"{file}: not a readable safetensors file ({exc})") from exc


def check_safetensors_dtypes(files: Iterable[Path]) -> None:
    """Every tensor of a Qwen2-VL checkpoint is floating point; integer tensors mean quantised or corrupt files."""
    for file in files:
        bad = [f"{k} ({d})" for k, d in safetensors_header_dtypes(file).items() if d not in _FLOAT_DTYPES]
        if bad:
            raise CorruptWeights(f"{file}: {len(bad)} integer tensor(s) where floating-point weights are expected: "
                                 f"{_listing(bad)}; quantised or corrupt checkpoints are not supported")


def expected_sha256(file: Path) -> tuple[str, str] | None:
    """``(digest, source)`` when one is available offline: a ``<file>.sha256`` sidecar (``sha256sum`` format), or
    the Hugging Face cache blob the file links to (LFS blobs are named by their sha256)."""
    sidecar = file.with_name(file.name + ".sha256")
    if sidecar.is_file():
        words = sidecar.read_text(encoding="utf-8", errors="replace").split()
        digest = words[0].lower() if words else ""
        if not _SHA256.fullmatch(digest):
            raise CorruptWeights(f"{sidecar}: not a sha256 checksum file (expected 64 hex digits first)")
        return digest, str(sidecar)
    real = Path(os.path.realpath(file))
    if real != file.absolute() and real.parent.name == "blobs" and _SHA256.fullmatch(real.name):
        return real.name, "the Hugging Face cache (LFS blob name)"
    return None


def file_sha256(path: Path, chunk: int = 8 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify_checksums(files: Iterable[Path]) -> int:
    """Compare each file with its expected sha256 where one is available; returns how many were verified."""
    verified = 0
    for file in files:
        expected = expected_sha256(Path(file))
        if expected is None:
            continue
        digest, source = expected
        actual = file_sha256(Path(file))
        if actual != digest:
            raise CorruptWeights(f"{file}: sha256 {actual[:16]}... does not match {digest[:16]}... from {source}: "
                                 "the file is corrupt or was replaced; re-download it")
        verified += 1
    return verified


def weight_files(directory: str | Path) -> list[Path]:
    root = Path(directory)
    return sorted(p for p in root.iterdir() if p.suffix in WEIGHT_SUFFIXES and p.is_file())


def check_checkpoint_dir(directory: str | Path) -> None:
    """Before ``from_pretrained``: checksums where provided, and header dtypes of the safetensors files."""
    files = weight_files(directory)
    verify_checksums(files)
    check_safetensors_dtypes([f for f in files if f.suffix == ".safetensors"])
