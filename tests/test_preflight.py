"""Preflight over the whole typed config: every bad setting is one line naming the key, exit 2, no run directory."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from awaker_eval import cli
from awaker_eval.app import CONF_DIR
from awaker_eval.config.schema import RunConfig, register_configs, unknown_keys
from awaker_eval.preflight import ConfigError, check_endpoint, check_samples, preflight


def _compose(overrides: list[str], typed: bool = True):
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        composed = compose("config", overrides=overrides)
    return OmegaConf.to_object(composed) if typed else composed


def _run(capsys, tmp_path, *overrides: str) -> tuple[int, str]:
    """``python -m awaker_eval`` in-process: (exit status, stderr)."""
    with pytest.raises(SystemExit) as stop:
        cli.main([*overrides, f"results_root={tmp_path}/results"])
    return stop.value.code, capsys.readouterr().err


@pytest.mark.parametrize("override, message", [
    ("benchmark.limit=-3", "error: benchmark.limit=-3 is out of range: it must be >= 1 or null"),
    ("benchmark.extractor=nope", "error: benchmark.extractor='nope' is unknown for mme_realworld: use one of fixed, "
                                 "official, vlmevalkit_2024, vlmevalkit_head"),
    ("benchmark.max_new_tokens=0", "error: benchmark.max_new_tokens=0 is out of range: it must be >= 1"),
    ("runner.repetition_penalty=-1", "error: runner.repetition_penalty=-1.0 is out of range: it must be a number > 0"),
    ("runner.batch_size=0", "error: runner.batch_size=0 is out of range: it must be >= 1"),
    ("runner.num_workers=-1", "error: runner.num_workers=-1 is out of range: it must be >= 0"),
    ("model.seed=1180591620717411303424", "error: model.seed=1180591620717411303424 is out of range: it must be an "
                                          "integer from 0 to 2**63-1"),
    ("runner.seed=-1", "error: runner.seed=-1 is out of range: it must be an integer from 0 to 2**63-1"),
    ("runner.max_failed_fraction=1.5", "error: runner.max_failed_fraction=1.5 is out of range: it must be a number "
                                       "from 0 to 1"),
    ("runner.max_failed_fraction=-0.1", "error: runner.max_failed_fraction=-0.1 is out of range: it must be a "
                                        "number from 0 to 1"),
    ("runner.max_failed_fraction=nan", "error: runner.max_failed_fraction=nan is out of range: it must be a number "
                                       "from 0 to 1"),
])
def test_bad_setting_is_one_line_exit_2_and_no_run_directory(capsys, tmp_path, override, message):
    code, err = _run(capsys, tmp_path, override)
    assert (code, err) == (2, message + "\n")
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("overrides, message", [
    (["benchmark=mmbench", "benchmark.protocol=offical"],
     "benchmark.protocol='offical' is unknown for mmbench: use one of lmms_eval, official, vlmevalkit_default, "
     "vlmevalkit_qwen2vl"),
    (["benchmark=mmbench", "benchmark.extractor=official_2024"],
     "benchmark.extractor='official_2024' is unknown for mmbench: use one of can_infer_2024, can_infer_head, fixed, "
     "official, vlmevalkit_2024, vlmevalkit_head"),
    (["benchmark.min_pixels=100", "benchmark.max_pixels=10"],
     "benchmark.min_pixels=100 is larger than benchmark.max_pixels=10: lower min_pixels or raise max_pixels"),
    (["benchmark.min_pixels=0"], "benchmark.min_pixels=0 is out of range: it must be >= 1 or null"),
    (["runner.max_batch_visual_tokens=0"], "runner.max_batch_visual_tokens=0 is out of range: it must be >= 1 or null"),
    (["runner.bootstrap_samples=-1"], "runner.bootstrap_samples=-1 is out of range: it must be >= 0"),
    (["runner.mode=sample"], "runner.mode='sample' is unknown: use one of generate, choice"),
    (["model.dtype=fp8"], "model.dtype='fp8' is unknown: use one of bfloat16, float16, float32"),
    (["model.device=gpu"], "model.device='gpu' is unknown: use auto, cpu, cuda or cuda:N"),
    (["model=awaker_tiny", "model.routing_mode=forked"],
     "model.routing_mode='forked' is unknown: use one of fork, consistent"),
    (["model=awaker_tiny", "model.adapter_dtype_mode=exact"],
     "model.adapter_dtype_mode='exact' is unknown: use one of parity, fast"),
    (["model.adapter_dtype_mode=fast"], "model.adapter_dtype_mode='fast' applies to Awaker2.5-VL only "
     "(model=awaker2_5_vl or awaker_tiny); model.kind='tiny' has no routed adapters"),
    (["model=qwen2_vl", "model.routing_mode=consistent"], "model.routing_mode='consistent' applies to Awaker2.5-VL "
     "only (model=awaker2_5_vl or awaker_tiny); model.kind='qwen2_vl' has no routed adapters"),
    (["model=openai_api", "model.max_concurrency=0"], "model.max_concurrency=0 is out of range: it must be >= 1"),
    (["model=openai_api", "model.timeout_s=0"], "model.timeout_s=0.0 is out of range: it must be a number > 0"),
    (["benchmark=mmbench", "benchmark.judge.base_url=http://127.0.0.1:1/v1", "benchmark.judge.model=j",
      "benchmark.judge.retries=0"], "benchmark.judge.retries=0 is out of range: it must be >= 1"),
    (["benchmark=mmbench", "benchmark.judge.base_url=http://127.0.0.1:1/v1", "benchmark.judge.model=j",
      "benchmark.judge.timeout_s=-5"], "benchmark.judge.timeout_s=-5.0 is out of range: it must be a number > 0"),
    (["benchmark=mmbench", "benchmark.judge.base_url=http://127.0.0.1:1/v1"],
     "benchmark.judge.model is not set: the judge needs benchmark.judge.model=NAME with base_url"),
])
def test_preflight_names_the_key(overrides, message):
    with pytest.raises(ConfigError) as err:
        preflight(_compose(overrides))
    assert str(err.value) == message


def test_every_shipped_option_passes_preflight(tmp_path):
    tsv = tmp_path / "any.tsv"
    tsv.write_text("index\tquestion\tA\tB\tanswer\timage\n")
    needs_source = {"mcq": [f"benchmark.source={tsv}"]}  # the generic MCQ benchmark has no default file
    for group in ("benchmark", "preset", "runner"):
        for option in sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml")):
            preflight(_compose([f"{group}={option}", *needs_source.get(option, [])]))
    preflight(_compose(["model=awaker_tiny"]))


def test_cuda_without_a_gpu_is_refused(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError) as err:
        preflight(_compose(["model.device=cuda"]))
    assert str(err.value) == ("model.device='cuda' cannot be used: no CUDA device is available; use model.device=cpu "
                              "or auto")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    preflight(_compose(["model.device=cuda:1"]))
    with pytest.raises(ConfigError, match=r"model.device='cuda:2' cannot be used: 2 CUDA device\(s\) are visible"):
        preflight(_compose(["model.device=cuda:2"]))


def test_unknown_plus_keys_are_found_at_every_level():
    composed = _compose(["+runner.batchsize=4", "+benchmark.judge.retry=2", "+extra=1", "+model.pth=x"], typed=False)
    assert unknown_keys(composed) == ["benchmark.judge.retry", "model.pth", "runner.batchsize", "extra"]
    assert unknown_keys(_compose(["benchmark.data_files={a: b}"], typed=False)) == []  # free-form Any field
    assert unknown_keys(OmegaConf.structured(RunConfig)) == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_endpoint_probe_against_a_live_server_and_an_unused_port():
    class Quiet(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        check_endpoint("model.base_url", f"http://127.0.0.1:{server.server_port}/v1")
        cfg = _compose(["model=openai_api", f"model.base_url=http://127.0.0.1:{server.server_port}/v1"])
        preflight(cfg)
    finally:
        server.shutdown()
        server.server_close()
    port = _free_port()
    with pytest.raises(ConfigError) as err:
        preflight(_compose(["model=openai_api", f"model.base_url='http://u:pw@127.0.0.1:{port}/v1?token=s3cret'"]))
    assert str(err.value) == (f"model.base_url='http://***@127.0.0.1:{port}/v1?token=***': cannot connect to "
                              f"127.0.0.1:{port} (Connection refused): start the server or fix the URL")
    with pytest.raises(ConfigError, match=r"^benchmark.judge.base_url='http://127.0.0.1:\d+/v1': cannot connect"):
        preflight(_compose(["benchmark=mmbench", f"benchmark.judge.base_url=http://127.0.0.1:{port}/v1",
                            "benchmark.judge.model=j"]))
    with pytest.raises(ConfigError, match=r"^model.base_url='localhost:8000/v1' is not an http\(s\):// URL"):
        check_endpoint("model.base_url", "localhost:8000/v1")


def test_empty_dataset_stops_before_the_model_and_writes_nothing(capsys, tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    (tmp_path / "images").mkdir()
    code, err = _run(capsys, tmp_path, "benchmark=mme_realworld", "benchmark.layout=official_json",
                     f"benchmark.source={empty}", f"benchmark.image_root={tmp_path / 'images'}")
    assert (code, err) == (2, "error: benchmark 'mme_realworld' (source " + str(empty) + ", split test) has 0 samples "
                              "after loading: check benchmark.source / split / data_files\n")
    assert not (tmp_path / "results").exists()
    with pytest.raises(ConfigError):
        check_samples(_compose([]), [])


FOLDER_RULE = ("is not a folder name: the run directory is <results_root>/<benchmark.name>/<model.name>/<run_id>, "
               "one folder each (no '/', not '.' or '..'); pass output_dir=PATH to write anywhere else")


@pytest.mark.parametrize("override, shown", [
    ("run_id=../../..", "run_id='../../..'"), ("run_id=a/../../../b", "run_id='a/../../../b'"),
    ("run_id=..", "run_id='..'"), ("benchmark.name=../../x", "benchmark.name='../../x'"),
    ("model.name=/tmp", "model.name='/tmp'"),
])
def test_run_directory_parts_cannot_leave_results_root(capsys, tmp_path, override, shown):
    root = tmp_path / "deep" / "er"
    root.mkdir(parents=True)
    with pytest.raises(SystemExit) as stop:
        cli.main([override, f"results_root={root}/results", "benchmark.limit=1", "runner.progress=false"])
    assert (stop.value.code, capsys.readouterr().err) == (2, f"error: {shown} {FOLDER_RULE}\n")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["deep", "er"]  # nothing written anywhere


def test_run_directory_is_checked_where_it_is_resolved(tmp_path):
    from awaker_eval.rundir import resolve_run_dir

    cfg = RunConfig(results_root=str(tmp_path), run_id="../../..")
    with pytest.raises(ConfigError, match=r"^run_id='\.\./\.\./\.\.' is not a folder name"):
        resolve_run_dir(cfg)
    cfg.run_id = "run-7"
    assert resolve_run_dir(cfg) == tmp_path / "mme_realworld_sample" / "tiny" / "run-7"


@pytest.mark.parametrize("overrides, message", [
    (["benchmark.split=train"], "benchmark.split='train' is unknown for mme_realworld: use one of test"),
    (["benchmark=mme_realworld_lite", "benchmark.split=dev"],
     "benchmark.split='dev' is unknown for mme_realworld: use one of test"),
    (["benchmark.version=v12"], "benchmark.version='v12' does not apply to mme_realworld, which has no versions: "
                                "leave it at its default (v10)"),
    (["benchmark=mmbench", "benchmark.version=v12"], "benchmark.version='v12' is unknown for mmbench: use one of "
                                                     "v10, v11"),
    (["benchmark=mmbench_cn", "benchmark.split=val"], "benchmark.split='val' is unknown for mmbench: use one of "
                                                      "dev, test"),
    (["benchmark=mmstar", "benchmark.version=v11"], "benchmark.version='v11' does not apply to mcq, which has no "
                                                    "versions: leave it at its default (v10)"),
])
def test_split_and_version_are_the_benchmarks_own(capsys, tmp_path, overrides, message):
    """They are written into scores.json and every label: a release the benchmark does not have is refused."""
    code, err = _run(capsys, tmp_path, *overrides)
    assert (code, err) == (2, f"error: {message}\n")
    assert not (tmp_path / "results").exists()


def test_every_shipped_benchmark_config_passes_the_release_check():
    from awaker_eval.preflight import check_release
    from awaker_eval.tasks.registry import get_benchmark

    for name in sorted(p.stem for p in (CONF_DIR / "benchmark").glob("*.yaml")):
        b = _compose([f"benchmark={name}"]).benchmark
        check_release(get_benchmark(b.kind), b)
    assert (RunConfig().benchmark.split, RunConfig().benchmark.version) == ("test", "v10")  # the default benchmark's


@pytest.mark.parametrize("name", ["MMStar.tsv", "data/mmbench.json", "rows.jsonl", "MMStar.parquet", "MMStar.xlsx"])
def test_a_missing_data_file_name_is_no_such_file_not_a_hub_lookup(capsys, tmp_path, name):
    """A name ending in a data file's suffix is never a hub id: one line at once, not ~27 s of hub retries."""
    suffix = name.rsplit(".", 1)[1]
    line = (f"benchmark.source={name!r}: no such file (a name ending in .{suffix} is a local file, not a hub id): "
            "pass the file's path\n")
    assert cli.main(["prompts", "benchmark=mmstar", f"benchmark.source={name}"]) == 2
    assert capsys.readouterr().err == "awaker-eval prompts: error: " + line
    code, err = _run(capsys, tmp_path, "benchmark=mmstar", f"benchmark.source={name}")
    assert (code, err) == (2, "error: " + line)
    assert not (tmp_path / "results").exists()
