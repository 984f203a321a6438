"""Weights sanity on load: NaN / Inf, integer tensors, checksum mismatches and corrupt headers stop the run with one
message naming the file and tensor, before inference (Qwen2-VL path via the factory, Awaker path via load_into)."""

from __future__ import annotations

import hashlib
import shutil

import pytest
import torch
from conftest import shared_path
from safetensors.torch import load_file, save_file

from awaker_eval.config.schema import ModelConfig
from awaker_eval.models.awaker.build import build_awaker, load_config
from awaker_eval.models.awaker.checkpoint import CheckpointError, read_bin, read_checkpoint
from awaker_eval.models.awaker.settings import AdapterSettings
from awaker_eval.models.factory import build_model
from awaker_eval.models.weights_check import CorruptWeights, expected_sha256, verify_checksums

LM_HEAD = "lm_head.weight"


@pytest.fixture
def tiny_copy(tiny_cache_dir, tmp_path):
    """A private copy of the tiny Qwen2-VL checkpoint directory and its tensors."""
    from awaker_eval.models.tiny import ensure_tiny_checkpoint

    src = ensure_tiny_checkpoint(tiny_cache_dir)
    dst = tmp_path / "ckpt"
    shutil.copytree(src, dst)
    return dst, load_file(dst / "model.safetensors")


def _load(path):
    return build_model(ModelConfig(name="q", kind="qwen2_vl", path=str(path), dtype="float32", device="cpu"))


def _lm_head_key(state):
    return next(k for k in state if k.endswith(LM_HEAD))


def test_nan_in_lm_head_is_refused(tiny_copy):
    path, state = tiny_copy
    key = _lm_head_key(state)
    state[key] = state[key].clone()
    state[key][0, :3] = float("nan")
    state[key][1, 0] = float("inf")
    save_file(state, path / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(CorruptWeights) as err:
        _load(path)
    assert str(err.value) == (f"{path}: non-finite weights in 1 tensor(s): {LM_HEAD} (3 NaN, 1 Inf); the checkpoint "
                              "is corrupt, re-download or re-convert it")


def test_int8_tensors_are_refused_before_loading(tiny_copy):
    path, state = tiny_copy
    n = len(state)
    save_file({k: v.to(torch.int8) for k, v in state.items()}, path / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(CorruptWeights, match=rf"model\.safetensors: {n} integer tensor\(s\) where floating-point "
                                             r"weights are expected: .* \(I8\).*\(\+\d+ more\)"):
        _load(path)


def test_flipped_header_byte_is_one_error(tiny_copy):
    path, _ = tiny_copy
    data = bytearray((path / "model.safetensors").read_bytes())
    data[10] ^= 0xFF  # inside the JSON header
    (path / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(CorruptWeights, match=r"model\.safetensors: not a readable safetensors file \("):
        _load(path)


def test_checksum_sidecar_mismatch_is_refused_and_match_passes(tiny_copy):
    path, _ = tiny_copy
    weights = path / "model.safetensors"
    good = hashlib.sha256(weights.read_bytes()).hexdigest()
    (path / "model.safetensors.sha256").write_text(f"{good}  model.safetensors\n")
    assert verify_checksums([weights]) == 1
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0x01  # one bit in the last tensor's data: finite, same header, only the checksum can tell
    weights.write_bytes(bytes(data))
    with pytest.raises(CorruptWeights) as err:
        _load(path)
    actual = hashlib.sha256(bytes(data)).hexdigest()
    assert str(err.value) == (f"{weights}: sha256 {actual[:16]}... does not match {good[:16]}... from "
                              f"{path / 'model.safetensors.sha256'}: the file is corrupt or was replaced; re-download it")


def test_hub_cache_blob_name_is_the_expected_digest(tmp_path):
    blobs, snap = tmp_path / "blobs", tmp_path / "snapshots" / "abc"
    blobs.mkdir()
    snap.mkdir(parents=True)
    payload = b"weights"
    blob = blobs / hashlib.sha256(payload).hexdigest()
    blob.write_bytes(payload)
    (snap / "model.safetensors").symlink_to(blob)
    assert expected_sha256(snap / "model.safetensors") == (blob.name, "the Hugging Face cache (LFS blob name)")
    assert verify_checksums([snap / "model.safetensors"]) == 1
    blob.write_bytes(b"weightz")
    with pytest.raises(CorruptWeights, match="from the Hugging Face cache"):
        verify_checksums([snap / "model.safetensors"])
    (tmp_path / "plain.bin").write_bytes(payload)
    assert expected_sha256(tmp_path / "plain.bin") is None  # nothing to compare with: not checked


@pytest.fixture(scope="module")
def golden():
    root = shared_path("awaker_golden")
    return root, load_config(root / "config.json"), AdapterSettings.from_json(root / "adapter.json"), \
        read_bin(root / "awaker_tiny.bin")


def _build_awaker(golden, path):
    _, config, settings, _ = golden
    return build_awaker(config, settings, read_checkpoint(path), dtype="float32", where=str(path))


def test_awaker_nan_and_int8_are_refused(golden, tmp_path):
    released = golden[3]
    key = next(k for k in released if k.endswith(LM_HEAD))
    nan_state = dict(released)
    nan_state[key] = released[key].clone()
    nan_state[key][2, 2] = float("nan")
    torch.save(nan_state, tmp_path / "nan.bin")
    with pytest.raises(CheckpointError) as err:
        _build_awaker(golden, tmp_path / "nan.bin")
    assert str(err.value) == (f"{tmp_path / 'nan.bin'}: non-finite weights in 1 tensor(s): {LM_HEAD} (1 NaN, 0 Inf); "
                              "the checkpoint is corrupt, re-download or re-convert it")
    int_state = {k: v.to(torch.int8) for k, v in released.items()}
    torch.save(int_state, tmp_path / "int8.bin")
    with pytest.raises(CheckpointError, match=rf"int8\.bin: checkpoint does not match the model; {len(released)} "
                                              r"integer tensors where floating-point weights are expected: .*\(int8\)"):
        _build_awaker(golden, tmp_path / "int8.bin")


def test_awaker_flipped_safetensors_header_is_a_checkpoint_error(golden, tmp_path):
    state = {k: v.contiguous() for k, v in golden[3].items()}
    file = tmp_path / "awaker.safetensors"
    save_file(state, file)
    data = bytearray(file.read_bytes())
    data[12] ^= 0xFF
    file.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"awaker\.safetensors: not a readable safetensors file"):
        read_checkpoint(file)


def test_weights_check_cost_on_the_tiny_checkpoint(tiny_copy):
    """The finite check is one reduction per tensor; on the tiny model it stays far below the load itself."""
    import time

    from awaker_eval.models.weights_check import check_finite

    path, state = tiny_copy
    start = time.perf_counter()
    check_finite(state.items(), str(path))
    assert time.perf_counter() - start < 1.0
