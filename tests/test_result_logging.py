"""``logger=wandb``: a finished run's scores, breakdown, settings and samples in W&B (offline mode), redacted; a
W&B failure never loses a result; the logger settings are checked before anything loads."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from test_openai_fakeserver import FakeChatServer, chat_reply
from wandb_records import logged

from awaker_eval import cli
from awaker_eval.config.schema import LoggerConfig
from awaker_eval.preflight import ConfigError
from awaker_eval.result_logging.checks import check_logger

PATH_KEY = "sk-live-K3yS3cr3tV4lue"  # a key-shaped URL segment, echoed back by the server in every answer
QUERY_KEY = "QSECRET1234"  # ?api_key= of model.base_url
ACCOUNT = "acct-774411"  # matched by model.secret_patterns only; also given as a W&B tag
SECRETS = (PATH_KEY, QUERY_KEY, ACCOUNT.split("-")[1])


@pytest.fixture
def wandb_offline(tmp_path, monkeypatch):
    """W&B's own folders (settings, cache, artifact staging) inside the test's tmp_path; no key, no proxy."""
    if os.environ.get("CI") == "true":
        import wandb  # noqa: F401 - in CI the "test" extra installs it: a missing package is a failure
    else:
        pytest.importorskip("wandb", reason="the wandb package is not installed (pip install -e \".[wandb]\")")
    for name in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(name, str(tmp_path / "wandb_home" / name.lower()))
    for name in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_DIR", "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                 "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.netrc key: an online run fails at once
    return tmp_path / "wandb_home"


def _argv(server_url: str, run_dir: Path, *extra: str) -> list[str]:
    return ["model=openai_api", f"model.base_url='{server_url}?api_key={QUERY_KEY}'", "model.api_model=m",
            "model.api_key_env=AWAKER_NO_SUCH_KEY", "model.secret_patterns=['acct-[0-9]+']", "benchmark.limit=6",
            "runner.progress=false", "runner.bootstrap_samples=50", f"output_dir={run_dir}", "logger=wandb", *extra]


def _leaks(*roots: Path) -> list[str]:
    """Every path under ``roots`` whose name or bytes hold one of the secrets."""
    found = []
    for root in roots:
        for path in root.rglob("*"):
            if any(s in str(path) for s in SECRETS) or (path.is_file() and any(s.encode() in path.read_bytes()
                                                                                  for s in SECRETS)):
                found.append(str(path))
    return found


def test_offline_run_holds_the_scores_tables_settings_and_no_secret(tmp_path, wandb_offline, capsys):
    run_dir = tmp_path / "run"
    root = f"/{ACCOUNT}/{PATH_KEY}/v1"
    with FakeChatServer(lambda body: chat_reply(f"A ({PATH_KEY} {ACCOUNT})"), root=root) as server:
        assert cli.main(_argv(server.url, run_dir, "logger.mode=offline", f"logger.tags=[smoke,{ACCOUNT}]")) == 0
    out = capsys.readouterr()
    meta = json.loads((run_dir / "run.json").read_text())
    scores = json.loads((run_dir / "scores.json").read_text())
    predictions = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
    assert meta["logger"]["status"] == "ok" and meta["logger"]["mode"] == "offline"
    offline = Path(meta["logger"]["where"])
    assert offline.parent == run_dir / "wandb" and offline.name.startswith("offline-run-")
    assert f"logged to W&B in {meta['logger']['seconds']:.1f} s: {offline}" in out.out
    (run_file,) = offline.glob("run-*.wandb")
    got = logged(run_file)
    assert got["history"]["Overall"] == got["summary"]["Overall"] == scores["overall"]
    assert [got["summary"]["Overall_ci_lo"], got["summary"]["Overall_ci_hi"]] == scores["ci"]["overall"]
    assert got["summary"]["Overall_n"] == len(predictions) == 6
    assert got["summary"]["Perception"] == scores["perception"]
    assert got["summary"]["run_dir"] == str(run_dir.resolve())
    assert got["config"]["fingerprints"] == {k: meta[k] for k in ("model_fp", "protocol_fp", "data_digest")}
    assert got["config"]["model"]["base_url"].endswith("/***/***/v1?api_key=***")
    assert got["run"]["tags"] == ["smoke", "***"]
    (samples_file,) = offline.glob("files/media/table/samples_*.table.json")
    samples = json.loads(samples_file.read_text())
    assert samples["columns"] == ["id", "task", "subtask", "category", "answer", "extracted", "extract_method",
                                  "correct", "raw_output", "error"]
    assert [row[0] for row in samples["data"]] == [p["id"] for p in predictions]
    assert [row[-3] for row in samples["data"]] == [p["correct"] for p in predictions]
    assert {row[-2] for row in samples["data"]} == {"A (*** ***)"}  # the echoed secrets, masked
    (breakdown_file,) = offline.glob("files/media/table/breakdown_*.table.json")
    breakdown = json.loads(breakdown_file.read_text())
    assert breakdown["data"][0] == ["overall", "Overall", 6, scores["overall"], *scores["ci"]["overall"]]
    assert _leaks(offline, wandb_offline) == []


def test_a_failed_upload_keeps_every_result_and_exits_1(tmp_path, wandb_offline, capsys):
    """Online without a W&B key: the outputs are written, run.json says why, one line, exit 1."""
    run_dir = tmp_path / "run"
    with FakeChatServer(lambda body: chat_reply("A")) as server:
        with pytest.raises(SystemExit) as stop:
            cli.main(_argv(server.url, run_dir, "logger.mode=online"))
    assert stop.value.code == 1
    for name in ("config.yaml", "predictions.jsonl", "scores.json", "leaderboard.md", "report.html"):
        assert (run_dir / name).is_file(), name
    outcome = json.loads((run_dir / "run.json").read_text())["logger"]
    assert outcome["status"] == "failed" and outcome["error"].startswith("UsageError: No API key configured")
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: logging to W&B failed ({outcome['error']}); every result is written in {run_dir}; "
                   "set logger.required=false to exit 0 when only logging fails"]


def test_a_failed_upload_not_required_is_one_warning_and_exit_0(tmp_path, wandb_offline, capsys):
    run_dir = tmp_path / "run"
    with FakeChatServer(lambda body: chat_reply("A")) as server:
        assert cli.main(_argv(server.url, run_dir, "logger.mode=online", "logger.required=false")) == 0
    outcome = json.loads((run_dir / "run.json").read_text())["logger"]
    assert outcome["status"] == "failed"
    assert capsys.readouterr().err.strip().splitlines() == [
        f"warning: logging to W&B failed ({outcome['error']}); every result is written in {run_dir}"]


@pytest.mark.parametrize("cfg, message", [
    (LoggerConfig(kind="mlflow"), "logger.kind='mlflow' is unknown: use one of none, wandb (e.g. logger=wandb)"),
    (LoggerConfig(kind="wandb", mode="offlne"), "logger.mode='offlne' is unknown: use one of online, offline, "
                                                "disabled (or null for W&B's own default)"),
    (LoggerConfig(project="p"), "logger.project set but no logger is chosen: add logger=wandb"),
    (LoggerConfig(kind="wandb", tags=["x" * 65]), f"logger.tags: {'x' * 65!r} is not a usable W&B tag: 1 to 64 "
                                                  "characters"),
])
def test_logger_settings_are_checked(cfg, message):
    with pytest.raises(ConfigError) as caught:
        check_logger(cfg)
    assert str(caught.value) == message


def test_logger_wandb_without_the_package_is_one_line_before_anything_loads(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "wandb", None)  # as if not installed
    check_logger(LoggerConfig(kind="wandb", mode="disabled"))  # sends nothing: needs no package
    with pytest.raises(SystemExit) as stop:
        cli.main(["logger=wandb", "benchmark.limit=2", f"output_dir={tmp_path / 'run'}",
                  f"benchmark.cache_dir={tmp_path / 'data'}"])
    assert stop.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        'error: logger=wandb needs the wandb package, which is not installed: pip install -e ".[wandb]"']
    assert not (tmp_path / "run").exists() and not (tmp_path / "data").exists()  # before the data and the model


def test_mode_disabled_sends_nothing_and_records_nothing(tmp_path, wandb_offline, capsys):
    run_dir = tmp_path / "run"
    with FakeChatServer(lambda body: chat_reply("A")) as server:
        assert cli.main(_argv(server.url, run_dir, "logger.mode=disabled")) == 0
    assert "logger" not in json.loads((run_dir / "run.json").read_text())
    assert not (run_dir / "wandb").exists() and "W&B" not in capsys.readouterr().out
