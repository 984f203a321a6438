"""A served model (``model=openai_api``) is labelled ``<api_model>@<host>_<port>`` unless ``model.name`` is set: in
tables, reports and run folders, so two vLLM models no longer collide under ``openai_api``."""

from __future__ import annotations

import dataclasses

import pytest
import yaml
from test_openai_fakeserver import FakeChatServer, chat_reply

from awaker_eval import cli
from awaker_eval.config.schema import ModelConfig, RunConfig
from awaker_eval.redact import set_secret_patterns
from awaker_eval.rundir import CONFIG_FILE, api_label, labelled


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


def _api(base_url: str | None = "http://127.0.0.1:8000/v1", api_model: str | None = "Qwen2-VL-7B",
         name: str | None = None) -> ModelConfig:
    return ModelConfig(name=name, kind="openai_api", base_url=base_url, api_model=api_model)


@pytest.mark.parametrize("base_url, api_model, label", [
    ("http://127.0.0.1:8000/v1", "Qwen2-VL-7B", "Qwen2-VL-7B@127.0.0.1_8000"),
    ("https://api.example.com/v1", "Qwen/Qwen2-VL-7B-Instruct", "Qwen_Qwen2-VL-7B-Instruct@api.example.com"),
    ("http://user:pw@GPU-7:8001/sk-live-abcd1234efgh/v1?api_key=QSECRET99", "m", "m@gpu-7_8001"),
    ("http://h:notaport/v1", "m", "m"),
    (None, None, "openai_api"),
])
def test_the_label_is_the_served_model_and_its_host_never_a_secret(base_url, api_model, label):
    assert api_label(_api(base_url, api_model)) == label


def test_secret_patterns_reach_the_label_too():
    set_secret_patterns(["tenant-[0-9]+"])
    try:
        assert api_label(_api("http://tenant-42.example.com:80/v1", "m")) == "m@___.example.com_80"
    finally:
        set_secret_patterns([])


def test_an_explicit_name_wins_and_a_resumed_directory_keeps_its_name(tmp_path):
    named = RunConfig(model=_api(name="mine"))
    assert labelled(named) is named
    assert labelled(RunConfig(model=_api())).model.name == "Qwen2-VL-7B@127.0.0.1_8000"
    assert labelled(RunConfig(model=dataclasses.replace(ModelConfig(), name=None))).model.name == "tiny"
    (tmp_path / CONFIG_FILE).write_text(yaml.safe_dump({"model": {"name": "openai_api"}}))  # made before labels
    resumed = RunConfig(model=_api(), output_dir=str(tmp_path))
    assert labelled(resumed).model.name == "openai_api"
    assert labelled(RunConfig(model=_api()), hydra_output_dir=str(tmp_path)).model.name == "openai_api"


def test_two_served_models_get_their_own_folders_rows_and_report_labels(tmp_path, capsys):
    root = tmp_path / "results"
    with FakeChatServer(lambda body: chat_reply("A")) as server:
        port = server.url.split(":")[2].split("/")[0]
        for served in ("qwen-a", "qwen-b"):
            assert cli.main(["model=openai_api", f"model.base_url={server.url}", f"model.api_model={served}",
                             "model.api_key_env=AWAKER_NO_SUCH_KEY", "benchmark.limit=3", "runner.progress=false",
                             "runner.bootstrap_samples=20", f"benchmark.cache_dir={tmp_path / 'data'}",
                             f"results_root={root}"]) == 0
            out = capsys.readouterr().out
            assert f"| {served}@127.0.0.1_{port} ★ | - | this run |" in out
    folders = sorted(p.name for p in (root / "mme_realworld_sample").iterdir())
    assert folders == [f"qwen-a@127.0.0.1_{port}", f"qwen-b@127.0.0.1_{port}"]
    run = next((root / "mme_realworld_sample" / folders[0]).iterdir())
    assert yaml.safe_load((run / CONFIG_FILE).read_text())["model"]["name"] == folders[0]
    assert folders[0] in (run / "report.html").read_text()
    assert cli.main(["table", str(root), "--format", "csv"]) == 0
    rows = [line.split(",")[0] for line in capsys.readouterr().out.splitlines() if ",True," in line]
    assert sorted(rows) == folders
