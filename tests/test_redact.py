"""Secrets in URLs are redacted wherever settings are written: config.yaml, run.json, report.html, logs, errors,
and what Hydra writes and prints for a sweep (multirun.yaml, its launch lines, the sweep's folder names)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO
from test_openai_fakeserver import FakeChatServer, chat_reply

from awaker_eval import cli
from awaker_eval.config.schema import JudgeConfig, ModelConfig, RunConfig
from awaker_eval.redact import RedactingFilter, redact, redact_text, redact_url, set_secret_patterns

SECRET = "s3cr3t-TOKEN"


@pytest.mark.parametrize("url, clean", [
    ("http://localhost:8000/v1", "http://localhost:8000/v1"),
    ("http://user:pw@host:8000/v1", "http://***@host:8000/v1"),
    ("https://host/v1?token=abc&model=a b", "https://host/v1?token=***&model=a b"),
    ("https://h/v1?api_key=1&key=2&access_token=3&X-Amz-Signature=4&sig=5&AccessToken=6&page=7",
     "https://h/v1?api_key=***&key=***&access_token=***&X-Amz-Signature=***&sig=***&AccessToken=***&page=7"),
    ("http://u:p@h:bad/x", "http://***@h:bad/x"),  # unparsable port: userinfo still dropped
    ("not a url", "not a url"),
])
def test_redact_url(url, clean):
    assert redact_url(url) == clean


def test_redact_nested_values_and_text():
    cfg = RunConfig(model=ModelConfig(kind="openai_api", base_url=f"http://h/v1?token={SECRET}"))
    cfg.benchmark.judge = JudgeConfig(base_url=f"http://me:{SECRET}@judge/v1", model="j")
    clean = redact(cfg)
    assert (clean.model.base_url, clean.benchmark.judge.base_url) == ("http://h/v1?token=***", "http://***@judge/v1")
    assert cfg.model.base_url.endswith(SECRET)  # the run itself still uses the real URL
    assert redact({"a": [f"see http://h/?key={SECRET} now", 3], "b": None}) == {"a": ["see http://h/?key=*** now", 3],
                                                                                   "b": None}
    assert redact_text(f"error: 'http://x/?signature={SECRET}': refused") == "error: 'http://x/?signature=***': refused"


def test_base_url_query_stays_after_the_endpoint_path():
    from awaker_eval.openai_client import ChatClient

    assert ChatClient(f"http://h:1/v1/?token={SECRET}").url == f"http://h:1/v1/chat/completions?token={SECRET}"
    assert ChatClient("http://h:1/v1").url == "http://h:1/v1/chat/completions"
    assert redact_text(f"no route /v1/chat/completions?token={SECRET}&x=1") == (
        "no route /v1/chat/completions?token=***&x=1")


def test_log_records_are_redacted():
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "request to %s failed", (f"http://h/?token={SECRET}",),
                               None)
    assert RedactingFilter().filter(record) and record.getMessage() == "request to http://h/?token=*** failed"


def test_secret_query_never_reaches_the_run_files(capsys, tmp_path, monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    run_dir = tmp_path / "run"
    with FakeChatServer(lambda body: chat_reply("A")) as server:
        code = cli.main(["model=openai_api", f"model.base_url='{server.url}?token={SECRET}'", "model.api_model=m",
                         "model.api_key_env=AWAKER_NO_SUCH_KEY", "benchmark.limit=2", "runner.progress=false",
                         "runner.bootstrap_samples=10", f"output_dir={run_dir}"])
    assert code == 0
    assert len(server.bodies) == 2  # the requests did go to the real URL, and succeeded
    assert json.loads((run_dir / "scores.json").read_text())["n_failed"] == 0
    for name in ("config.yaml", "run.json", "report.html"):
        text = (run_dir / name).read_text(encoding="utf-8")
        assert SECRET not in text, name
        assert "token=***" in text, name
    assert SECRET not in capsys.readouterr().out


HEX_KEY = "0123456789abcdef0123456789abcdef"
B64_KEY = "AbCdEfGh1234567890AbCdEfGh12345678"
REVISION = "3f2a9c1d0b8e7f6a5d4c3b2a19081726354e5f6a"


@pytest.mark.parametrize("url, clean", [
    ("http://h:8000/sk-live-abcdEFGH1234/v1", "http://h:8000/***/v1"),
    ("https://h/proxy/sk_proj_abcd1234efgh/v1/", "https://h/proxy/***/v1/"),
    (f"https://h/v1/{HEX_KEY}/chat", "https://h/v1/***/chat"),
    (f"https://h/{B64_KEY}/v1", "https://h/***/v1"),
    (f"https://h/key-{HEX_KEY}/v1?model=x", "https://h/***/v1?model=x"),
    ("https://h/hf_abcdefghijklmnopqrstuvwxyzABCDEFGH/v1", "https://h/***/v1"),
    # ordinary segments stay: API versions, deployments, model names, hub ids, pinned revisions, digests
    ("http://localhost:8000/v1", "http://localhost:8000/v1"),
    ("https://r.openai.azure.com/openai/deployments/gpt-4o-2024-08-06/chat",
     "https://r.openai.azure.com/openai/deployments/gpt-4o-2024-08-06/chat"),
    ("https://h/models/Meta-Llama-3.1-405B-Instruct-Turbo-AWQ-INT4/v1",
     "https://h/models/Meta-Llama-3.1-405B-Instruct-Turbo-AWQ-INT4/v1"),
    ("https://huggingface.co/Qwen/Qwen2-VL-7B-Instruct", "https://huggingface.co/Qwen/Qwen2-VL-7B-Instruct"),
    (f"https://huggingface.co/datasets/yifanzhang114/MME-RealWorld/resolve/{REVISION}/MME_RealWorld.json",
     f"https://huggingface.co/datasets/yifanzhang114/MME-RealWorld/resolve/{REVISION}/MME_RealWorld.json"),
    (f"https://github.com/open-compass/VLMEvalKit/blob/{REVISION}/run.py",
     f"https://github.com/open-compass/VLMEvalKit/blob/{REVISION}/run.py"),
    ("https://h/sk-short/v1", "https://h/sk-short/v1"),
])
def test_key_like_path_segments(url, clean):
    assert redact_url(url) == clean
    assert redact_text(f"see {url} now") == f"see {clean} now"


def test_user_patterns_mask_anywhere_and_keys_by_their_prefix():
    set_secret_patterns(["acct-[0-9]+"])
    try:
        assert redact_text("https://acct-774411.example.com/v1 refused") == "https://***.example.com/v1 refused"
        assert redact({"path": "/srv/acct-774411/x", "name": "acct-x"}) == {"path": "/srv/***/x", "name": "acct-x"}
    finally:
        set_secret_patterns([])
    assert redact_text("Incorrect API key provided: sk-live-abcd1234EFGH.") == "Incorrect API key provided: ***."
    assert redact_text("task-abcdefghijk, /srv/acct-774411/x") == "task-abcdefghijk, /srv/acct-774411/x"


PATH_KEY = "sk-live-K3yS3cr3tV4lue"
QUERY_KEY = "QSECRET1234"
ACCOUNT = "acct-774411"
ROOT = f"/{ACCOUNT}/{PATH_KEY}/v1"


def _leaks(root: Path, *texts: str) -> list[str]:
    """Every file or folder name under ``root``, every file's bytes and each text that holds one of the secrets."""
    secrets = [s.encode() for s in (PATH_KEY, QUERY_KEY, ACCOUNT.split("-")[1])]
    found = [str(p) for p in root.rglob("*") if any(s.decode() in str(p) for s in secrets)]
    found += [str(p) for p in root.rglob("*") if p.is_file() and any(s in p.read_bytes() for s in secrets)]
    found += [f"text {i}" for i, text in enumerate(texts) if any(s.decode() in text for s in secrets)]
    return found


def _api_overrides(server_url: str) -> list[str]:
    return ["model=openai_api", f"model.base_url='{server_url}?api_key={QUERY_KEY}'", "model.api_model=m",
            "model.api_key_env=AWAKER_NO_SUCH_KEY", "model.secret_patterns=['acct-[0-9]+']", "benchmark.limit=2",
            "runner.progress=false", "runner.bootstrap_samples=10"]


@pytest.fixture
def no_proxy(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


def test_secret_path_segments_never_reach_the_run_files_even_on_a_rerun(capsys, tmp_path, no_proxy):
    run_dir = tmp_path / "run"
    texts = []
    with FakeChatServer(lambda body: chat_reply("A"), root=ROOT) as server:
        for _ in range(2):  # the rerun compares its settings with config.yaml and records the attempt in run.json
            assert cli.main([*_api_overrides(server.url), f"output_dir={run_dir}"]) == 0
            out = capsys.readouterr()
            texts += [out.out, out.err]
    assert len(server.bodies) == 2  # the real URL was used; the rerun resumed
    run = json.loads((run_dir / "run.json").read_text())
    assert run["config"]["model"]["base_url"] == "http://127.0.0.1:{}/***/***/v1?api_key=***".format(
        server.httpd.server_address[1])
    assert [a["status"] for a in run["attempts"]] == ["ok", "ok"]
    assert _leaks(run_dir, *texts) == []


def test_a_sweep_writes_and_prints_no_secret(tmp_path, no_proxy):
    results = tmp_path / "results"
    with FakeChatServer(lambda body: chat_reply("A"), root=ROOT) as server:
        cmd = [sys.executable, "-m", "awaker_eval", "-m", *_api_overrides(server.url), "model.seed=0,1",
               f"results_root={results}"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path,
                             env=dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO)))
    assert out.returncode == 0, out.stderr[-2000:]
    assert len(server.bodies) == 4  # two jobs of two samples, each against the real URL
    port = server.httpd.server_address[1]
    assert f"#1 : model=openai_api model.base_url='http://127.0.0.1:{port}/***/***/v1?api_key=***'" in out.stdout
    (sweep,) = (results / "sweeps").iterdir()
    assert f"base_url: http://127.0.0.1:{port}/***/***/v1?api_key=***" in (sweep / "multirun.yaml").read_text()
    jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert jobs == ["0_model.seed=0", "1_model.seed=1"]
    assert [json.loads((sweep / job / "scores.json").read_text())["n_failed"] for job in jobs] == [0, 0]
    assert _leaks(tmp_path, out.stdout, out.stderr) == []
