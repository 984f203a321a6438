"""Config composition: every group option composes into the typed schema; typos fail at compose time."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from awaker_eval.app import CONF_DIR
from awaker_eval.config.schema import RunConfig, register_configs
from awaker_eval.rundir import default_run_id, resolve_run_dir


def _compose(overrides: list[str]) -> RunConfig:
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return OmegaConf.to_object(compose("config", overrides=overrides))


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


@pytest.mark.parametrize("group", ["benchmark", "model", "runner", "preset"])
def test_every_group_option_composes(group):
    options = _options(group)
    assert options, f"no options in conf/{group}"
    for option in options:
        cfg = _compose([f"{group}={option}"])
        assert isinstance(cfg, RunConfig)
        if group == "preset":
            assert cfg.preset == option
            continue
        node = getattr(cfg, group)
        if group != "runner":
            assert node.kind, f"{group}={option} has no kind"


def test_defaults_are_the_offline_demo():
    cfg = _compose([])
    assert cfg.model.kind == "tiny"
    assert cfg.benchmark.name == "mme_realworld_sample"
    assert cfg.benchmark.kind == "mme_realworld"
    assert cfg.runner.mode == "generate"


def test_typo_in_key_fails_at_compose_time():
    with pytest.raises(ConfigCompositionException, match="batch_sise"):
        _compose(["runner.batch_sise=4"])


def test_wrong_type_fails_at_compose_time():
    with pytest.raises(ConfigCompositionException, match="batch_size"):
        _compose(["runner.batch_size=many"])


def test_run_dir_layout_and_stable_default_run_id():
    cfg = _compose(["model=tiny"])
    run_dir = resolve_run_dir(cfg)
    assert run_dir.parts[:3] == ("results", "mme_realworld_sample", "tiny")
    assert run_dir.name == default_run_id(cfg) == default_run_id(_compose(["runner.batch_size=2"]))
    assert default_run_id(cfg) != default_run_id(_compose(["benchmark.protocol=lmms_eval"]))
    assert resolve_run_dir(_compose(["output_dir=/tmp/x"])).as_posix() == "/tmp/x"


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "awaker_eval", *args], capture_output=True, text=True, timeout=120)


def test_cfg_job_prints_config():
    out = _run_cli("--cfg", "job")
    assert out.returncode == 0, out.stderr
    assert "benchmark:" in out.stdout and "kind: tiny" in out.stdout


def test_unknown_model_name_is_one_clear_error():
    out = _run_cli("model=nonexistent_model")
    assert out.returncode != 0
    assert "Could not find 'model/nonexistent_model'" in out.stderr
    assert "Available options in 'model'" in out.stderr


def test_missing_checkpoint_path_stops_before_loading(tmp_path):
    missing = tmp_path / "nope"
    out = _run_cli("model=qwen2_vl", f"model.path={missing}", f"results_root={tmp_path}/r")
    assert out.returncode == 2
    assert out.stderr.strip() == (
        f"error: model.path={str(missing)!r} does not exist: pass an existing local directory or a hub id"
    )


def test_unreachable_hub_in_offline_mode_is_one_clear_error(tmp_path):
    env_cmd = [sys.executable, "-m", "awaker_eval", "model=qwen2_vl", "model.path=nobody/no-such-model",
               f"results_root={tmp_path}/r"]
    import os

    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))
    out = subprocess.run(env_cmd, capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 2
    assert "is not in the local Hugging Face cache and the hub cannot be reached" in out.stderr
    assert out.stderr.count("\n") == 1


def test_unknown_benchmark_name_is_one_clear_error():
    out = subprocess.run([sys.executable, "-m", "awaker_eval.cli", "run", "benchmark=mme_realworl"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "Could not find 'benchmark/mme_realworl'" in out.stderr
    assert "mme_realworld" in out.stderr  # the available options are listed


def test_directory_without_config_json_is_not_a_checkpoint(tmp_path):
    from awaker_eval.preflight import ConfigError, preflight

    cfg = _compose(["model=qwen2_vl", f"model.path={tmp_path}"])
    with pytest.raises(ConfigError, match=r"has no config\.json, so it is not a Qwen2-VL checkpoint directory"):
        preflight(cfg)
    (tmp_path / "config.json").write_text("{}")
    preflight(cfg)  # a checkpoint-shaped folder passes; loading it is the model's job


def test_unreachable_dataset_hub_in_offline_mode_is_one_clear_error(tmp_path):
    import os

    cmd = [sys.executable, "-m", "awaker_eval", "benchmark=mme_realworld", "benchmark.source=nobody/no-such-data",
           f"results_root={tmp_path}/r"]
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert out.returncode == 2
    assert not (tmp_path / "app.log").exists()  # Hydra's job log file is not dropped into the working dir
    assert out.stderr.startswith("error: cannot load 'nobody/no-such-data'") and out.stderr.count("\n") == 1
    assert "Point benchmark.source at a local file or folder" in out.stderr


def test_presets_set_the_reference_toolkit_settings_and_overrides_win():
    vlm = _compose(["benchmark=mmbench", "preset=vlmevalkit"])
    assert (vlm.preset, vlm.benchmark.protocol, vlm.benchmark.extractor) == ("vlmevalkit", "official", "vlmevalkit_2024")
    assert (vlm.benchmark.min_pixels, vlm.benchmark.max_pixels, vlm.benchmark.max_new_tokens) == (
        1003520, 12845056, 2048)
    lmms = _compose(["preset=lmms_eval", "benchmark.max_new_tokens=8"])
    assert (lmms.benchmark.protocol, lmms.benchmark.extractor, lmms.benchmark.min_pixels) == ("lmms_eval", "fixed", 3136)
    assert lmms.benchmark.max_new_tokens == 8  # the command line wins over the preset
    readme = _compose(["preset=awaker_readme"])
    assert (readme.runner.repetition_penalty, readme.benchmark.max_new_tokens) == (1.05, 512)
    assert _compose([]).preset is None
    assert len({default_run_id(c) for c in (vlm, lmms, readme, _compose([]))}) == 4
