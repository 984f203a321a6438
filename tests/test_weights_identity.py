"""The weights identity covers every byte of every weight file, and is hashed once per file version (cached)."""

from __future__ import annotations

import json
import os

import pytest
import torch
from safetensors.torch import save_file

from awaker_eval.models import loading
from awaker_eval.models.loading import FileDigests, weights_identity


def checkpoint(path, size=3 * (1 << 20)):
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text('{"model_type": "qwen2_vl"}')
    (path / "model.safetensors").write_bytes(bytes(range(256)) * (size // 256))
    return path


def test_checkpoint_replaced_in_place_differing_at_byte_1075589_gets_a_new_identity(tmp_path):
    ckpt = checkpoint(tmp_path / "ckpt")
    cache = tmp_path / "digests.json"
    before = weights_identity(ckpt, cache_path=cache)
    weights = ckpt / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[1_075_589] ^= 0xFF
    st = weights.stat()
    replacement = tmp_path / "replacement.safetensors"
    replacement.write_bytes(bytes(data))
    os.utime(replacement, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size and mtime: only the content differs
    os.replace(replacement, weights)
    assert weights.stat().st_size == st.st_size and weights.stat().st_mtime_ns == st.st_mtime_ns
    after = weights_identity(ckpt, cache_path=cache)
    assert after != before
    assert weights_identity(ckpt, cache_path=cache) == after


def test_edited_in_place_with_the_same_mtime_is_still_noticed(tmp_path):
    ckpt = checkpoint(tmp_path / "ckpt")
    cache = tmp_path / "digests.json"
    before = weights_identity(ckpt, cache_path=cache)
    weights = ckpt / "model.safetensors"
    st = weights.stat()
    with open(weights, "r+b") as fh:
        fh.seek(2_000_000)
        fh.write(b"\x00")
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns))  # mtime put back; ctime cannot be
    assert weights_identity(ckpt, cache_path=cache) != before


def test_safetensors_differing_in_a_middle_tensor_have_different_identities(tmp_path):
    tensors = {f"layer{i}.weight": torch.full((512, 512), float(i)) for i in range(5)}  # 5 x 1 MiB
    save_file(tensors, str(checkpoint(tmp_path / "a", 0) / "model.safetensors"))
    tensors["layer2.weight"][100, 100] = 7.5
    save_file(tensors, str(checkpoint(tmp_path / "b", 0) / "model.safetensors"))
    a = weights_identity(tmp_path / "a", cache_path=tmp_path / "c.json")
    assert a != weights_identity(tmp_path / "b", cache_path=tmp_path / "c.json")


def test_each_file_is_hashed_once_per_version(tmp_path, monkeypatch):
    ckpt = checkpoint(tmp_path / "ckpt")
    cache = tmp_path / "cache" / "digests.json"
    calls = []
    real = loading.sha256_file
    monkeypatch.setattr(loading, "sha256_file", lambda p: calls.append(p.name) or real(p))
    first = weights_identity(ckpt, cache_path=cache)
    assert sorted(calls) == ["config.json", "model.safetensors"]
    assert weights_identity(ckpt, cache_path=cache) == first and len(calls) == 2  # from the cache
    assert len(json.loads(cache.read_text())) == 2
    (ckpt / "config.json").write_text('{"model_type": "qwen2_vl", "x": 1}')
    assert weights_identity(ckpt, cache_path=cache) != first and calls[2:] == ["config.json"]


def test_corrupt_cache_is_ignored_and_rewritten(tmp_path):
    ckpt = checkpoint(tmp_path / "ckpt", 1024)
    cache = tmp_path / "digests.json"
    cache.write_text("{not json")
    ident = weights_identity(ckpt, cache_path=cache)
    assert ident == weights_identity(ckpt, cache_path=tmp_path / "other.json")
    assert len(json.loads(cache.read_text())) == 2


def test_digest_is_of_every_byte(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * (20 << 20) + b"y")
    import hashlib

    assert FileDigests(tmp_path / "c.json").digest(path) == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("broken", ["[1, 2]", '{"k": 3}'])
def test_cache_with_foreign_content_is_not_trusted(tmp_path, broken):
    ckpt = checkpoint(tmp_path / "ckpt", 1024)
    (tmp_path / "c.json").write_text(broken)
    assert weights_identity(ckpt, cache_path=tmp_path / "c.json") == weights_identity(
        ckpt, cache_path=tmp_path / "fresh.json")
