"""Secrets in URLs are redacted wherever settings are written: config.yaml, run.json, report.html, logs, errors."""

from __future__ import annotations

import json
import logging

import pytest
from test_openai_fakeserver import FakeChatServer, chat_reply

from awaker_eval import cli
from awaker_eval.config.schema import JudgeConfig, ModelConfig, RunConfig
from awaker_eval.redact import RedactingFilter, redact, redact_text, redact_url

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
