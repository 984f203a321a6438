"""Behaviour unchanged by the architecture work (issue 20): the offline demo, the ``awaker_tiny`` demo and the MMBench
end-to-end run write the same ``predictions.jsonl``, ``scores.json`` and ``leaderboard.md`` and get the same run ids
as recorded in ``tests/data/arch_golden/`` before the change.

Every path the runs see is relative to a scratch working directory, so the run ids (hashes of the settings, paths
included) do not depend on where the test runs. The MMBench judge is a local fake server on a free port; its URL is
in the run id's settings, so that run's id is recorded with the URL's port replaced (see ``_mmbench_run_id``).

Record again (only when a change of behaviour is intended): ``python tests/test_arch_golden.py``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from awaker_eval.app import CONF_DIR  # noqa: E402
from awaker_eval.config.schema import register_configs  # noqa: E402
from awaker_eval.pipeline import evaluate  # noqa: E402
from awaker_eval.rundir import default_run_id  # noqa: E402
from test_mmbench_e2e import _circular_tsv as write_circular_tsv
from test_openai_fakeserver import FakeChatServer, chat_reply, prompt_text  # noqa: E402

GOLDEN = HERE / "data" / "arch_golden"
FILES = ("predictions.jsonl", "scores.json", "leaderboard.md")
SHARED = HERE.parents[1] / "shared"
FIXED_JUDGE_URL = "http://127.0.0.1:0/v1"


def _cfg(*overrides: str):
    register_configs()
    base = ["results_root=results", "model.cache_dir=cache", "benchmark.cache_dir=data", "runner.progress=false"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return OmegaConf.to_object(compose("config", overrides=[*base, *overrides]))


def _circular_tsv(path: Path, n_questions: int = 3) -> None:
    """The same circular MMBench TSV as tests/test_mmbench_e2e.py (its writer, on ../shared's fixtures)."""
    write_circular_tsv(SHARED / "benchmark_fixtures", path, n_questions)


def _mmbench_run_id(cfg, run_dir: Path) -> str:
    """The run's id as it would be with the judge on FIXED_JUDGE_URL: same settings, same data digest."""
    digest = json.loads((run_dir / "run.json").read_text()).get("data_digest")
    judge = dataclasses.replace(cfg.benchmark.judge, base_url=FIXED_JUDGE_URL)
    fixed = dataclasses.replace(cfg, benchmark=dataclasses.replace(cfg.benchmark, judge=judge))
    assert default_run_id(cfg, digest) == run_dir.name  # the digest is the one the run used
    return default_run_id(fixed, digest)


def produce(workdir: Path) -> dict[str, dict[str, str]]:
    """Run the three golden runs inside ``workdir``; name -> {file name: text, 'run_id': id}."""
    old = Path.cwd()
    os.chdir(workdir)
    try:
        out = {}
        demo = evaluate(_cfg())
        out["demo"] = _collect(demo, demo.name)
        awaker = evaluate(_cfg("model=awaker_tiny", "model.device=cpu"))
        out["awaker_tiny"] = _collect(awaker, awaker.name)
        _circular_tsv(Path("MMBench_DEV_EN_V11.tsv"))
        with FakeChatServer(lambda body: chat_reply("B" if "Example 3" in prompt_text(body) else "?")) as server:
            cfg = _cfg("benchmark=mmbench", "benchmark.layout=tsv", "benchmark.source=MMBench_DEV_EN_V11.tsv",
                       "benchmark.min_pixels=3136", "benchmark.max_pixels=50176", "benchmark.max_new_tokens=8",
                       f"benchmark.judge.base_url={server.url}", "benchmark.judge.model=judge-model",
                       "benchmark.judge.api_key_env=null", "benchmark.judge.backoff_s=0.01",
                       "runner.bootstrap_samples=100")
            mmbench = evaluate(cfg)
        out["mmbench"] = _collect(mmbench, _mmbench_run_id(cfg, mmbench))
        return out
    finally:
        os.chdir(old)


def _collect(run_dir: Path, run_id: str) -> dict[str, str]:
    files = {name: (run_dir / name).read_text(encoding="utf-8") for name in FILES}
    return {**files, "run_id": run_id + "\n"}


def record() -> None:
    import tempfile

    import torch

    torch.set_num_threads(1)  # as the tests run (tests/conftest.py): the tiny Awaker's floats depend on it

    with tempfile.TemporaryDirectory() as tmp:
        for name, files in produce(Path(tmp)).items():
            (GOLDEN / name).mkdir(parents=True, exist_ok=True)
            for fname, text in files.items():
                (GOLDEN / name / fname).write_text(text, encoding="utf-8")


@pytest.mark.skipif(not (SHARED / "benchmark_fixtures").is_dir(), reason="needs ../shared/benchmark_fixtures")
def test_runs_match_the_recorded_outputs_byte_for_byte(tmp_path):
    produced = produce(tmp_path)
    for name, files in produced.items():
        for fname, text in files.items():
            expected = (GOLDEN / name / fname).read_text(encoding="utf-8")
            assert text == expected, f"{name}/{fname} differs from {GOLDEN / name / fname}"


if __name__ == "__main__":
    record()
