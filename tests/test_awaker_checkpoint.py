"""Strict checkpoint loading: clear errors for bad files; ``.bin`` and converted safetensors load the same."""

from __future__ import annotations

import pytest
import torch
from conftest import shared_path

from awaker_eval.models.awaker.build import build_awaker, load_config
from awaker_eval.models.awaker.checkpoint import CheckpointError, read_bin, read_checkpoint
from awaker_eval.convert_cli import main as convert_main
from awaker_eval.models.awaker.settings import AdapterSettings

LAYER0 = "base_model.model.model.layers.0."


@pytest.fixture(scope="module")
def golden():
    root = shared_path("awaker_golden")
    return root, load_config(root / "config.json"), AdapterSettings.from_json(root / "adapter.json")


@pytest.fixture(scope="module")
def released(golden):
    return read_bin(golden[0] / "awaker_tiny.bin")


def _build(golden, path):
    _, config, settings = golden
    return build_awaker(config, settings, read_checkpoint(path), dtype="float32", where=str(path))


def _save(tmp_path, state, name="bad.bin"):
    path = tmp_path / name
    torch.save(state, path)
    return path


def test_missing_key_is_named(golden, released, tmp_path):
    state = dict(released)
    del state[LAYER0 + "mlp.up_proj.lora_moe_B.g.weight"]
    with pytest.raises(CheckpointError, match=r"bad\.bin.*1 missing keys: model\.language_model\.layers\.0\.mlp"
                                              r"\.up_proj\.lora_moe_B\.g\.weight"):
        _build(golden, _save(tmp_path, state))


def test_extra_keys_are_listed_with_count(golden, released, tmp_path):
    state = dict(released)
    for i in range(7):
        state[f"{LAYER0}mlp.up_proj.w_gate.extra{i}"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match=r"7 unexpected keys: .*up_proj\.w_gate\.extra0.*\(\+2 more\)"):
        _build(golden, _save(tmp_path, state))


def test_wrong_shape_is_reported_with_both_shapes(golden, released, tmp_path):
    state = dict(released)
    state[LAYER0 + "self_attn.q_proj.lora_A.default.weight"] = torch.zeros(4, 64, dtype=torch.bfloat16)
    with pytest.raises(CheckpointError, match=r"1 mis-shaped tensors: .*q_proj\.lora_A\.default\.weight \[4, 64\] "
                                              r"!= model \[8, 64\]"):
        _build(golden, _save(tmp_path, state))


def test_pickles_that_are_not_plain_tensors_fail_clearly(tmp_path):
    listy = _save(tmp_path, {"base_model.model.lm_head.weight": [1, 2], "x": torch.zeros(1), "y": {"a": 1}}, "l.bin")
    with pytest.raises(CheckpointError, match=r"l\.bin: 2 entries are not tensors: .*lm_head\.weight' \(list\).* out of 3"):
        read_checkpoint(listy)
    objecty = _save(tmp_path, {"config": AdapterSettings()}, "o.bin")
    with pytest.raises(CheckpointError, match=r"o\.bin: not a plain tensor checkpoint \(weights-only load refused"):
        read_checkpoint(objecty)
    foreign = _save(tmp_path, {"encoder.weight": torch.zeros(1)}, "f.bin")
    with pytest.raises(CheckpointError, match=r"f\.bin: keys match no known Awaker layout"):
        read_checkpoint(foreign)


def test_converted_safetensors_load_identically(golden, tmp_path, capsys):
    root = golden[0]
    dst = tmp_path / "converted"
    assert convert_main([str(root / "awaker_tiny.bin"), str(dst), "--max-shard-size", "300KB",
                         "--config", str(root / "config.json"), "--adapter", str(root / "adapter.json")]) == 0
    assert "162 tensors, 338,960 parameters, dtypes {'bfloat16': 162}" in capsys.readouterr().out
    assert len(list(dst.glob("model-*.safetensors"))) > 1 and (dst / "model.safetensors.index.json").exists()
    a, b = read_checkpoint(root / "awaker_tiny.bin"), read_checkpoint(dst)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) and a[k].dtype == b[k].dtype for k in a)
    model, _ = _build(golden, dst)
    assert model.model.language_model.layers[0].self_attn.q_proj.lora_A["default"].weight.dtype == torch.float32


@pytest.mark.parametrize("umask,mode", [(0o077, 0o600), (0o022, 0o644), (0o002, 0o664)])
def test_converted_shards_honour_the_umask(golden, tmp_path, umask, mode):
    """Teammates read the shards when the umask lets them, and nobody else when it does not (a fixed 0644 ignored
    a private umask)."""
    import os

    old = os.umask(umask)
    try:
        assert convert_main([str(golden[0] / "awaker_tiny.bin"), str(tmp_path / "c"), "--max-shard-size", "300KB"]) == 0
    finally:
        os.umask(old)
    modes = {p.stat().st_mode & 0o777 for p in (tmp_path / "c").glob("*.safetensors")}
    assert modes == {mode}


def test_convert_rejects_a_mismatching_checkpoint(golden, released, tmp_path, capsys):
    state = dict(released)
    del state[LAYER0 + "mlp.gate_proj.ln.weight"]
    root = golden[0]
    rc = convert_main([str(_save(tmp_path, state)), str(tmp_path / "out"), "--config", str(root / "config.json"),
                       "--adapter", str(root / "adapter.json")])
    assert rc == 1 and "1 missing keys: model.language_model.layers.0.mlp.gate_proj.ln.weight" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_bf16_parity_dtypes(golden):
    model, _ = _build(golden, golden[0] / "awaker_tiny.bin")  # fp32 build
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    _, config, settings = golden
    model, _ = build_awaker(config, settings, read_checkpoint(golden[0] / "awaker_tiny.bin"), dtype="bfloat16")
    dtypes = {n: p.dtype for n, p in model.named_parameters()}
    assert {d for n, d in dtypes.items() if ".lora_A." in n or ".lora_B." in n} == {torch.float32}
    assert {d for n, d in dtypes.items() if not (".lora_A." in n or ".lora_B." in n)} == {torch.bfloat16}
    assert {b.dtype for n, b in model.named_buffers() if "inv_freq" in n} == {torch.float32}


def test_converted_dir_carries_the_adapter_settings_found_beside_the_source(golden, tmp_path, capsys):
    """Without ``--adapter`` the ``adapter.json`` beside the ``.bin`` is used (r=8 here) and written into the output,
    so the backend (``adapter_settings_for``) builds the right skeleton for the converted directory too."""
    from awaker_eval.models.awaker.backend import adapter_settings_for

    root, config, settings = golden
    dst = tmp_path / "converted"
    assert convert_main([str(root / "awaker_tiny.bin"), str(dst), "--config", str(root / "config.json")]) == 0
    assert settings.r == 8 and adapter_settings_for(dst) == settings
    model, _ = build_awaker(config, adapter_settings_for(dst), read_checkpoint(dst), dtype="float32")
    assert model.model.language_model.layers[1].mlp.down_proj.lora_moe_A["g"].weight.shape == (8, 160)


def test_convert_checkpoint_with_a_malformed_adapter_json_is_one_clear_error(tmp_path, golden_dir, capsys):
    bad = tmp_path / "adapter.json"
    bad.write_text("{not json")
    code = convert_main([str(golden_dir / "awaker_tiny.bin"), str(tmp_path / "out"), "--adapter", str(bad)])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith(f"convert-checkpoint: {bad}: not a readable adapter.json")
