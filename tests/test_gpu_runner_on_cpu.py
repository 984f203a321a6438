"""``runner=gpu`` on a machine without a GPU: one warning line, DataLoader workers sized to the cores."""

from __future__ import annotations

import json

import torch

from awaker_eval import app, cli
from awaker_eval.config.schema import ModelConfig, RunConfig, RunnerConfig

WARNING = "warning: runner=gpu but no GPU is visible: the model runs on the CPU"


def _cfg(workers: int = 8, **model) -> RunConfig:
    return RunConfig(runner=RunnerConfig(num_workers=workers), model=ModelConfig(**model))


def test_workers_are_sized_to_the_cores_with_one_warning(capsys):
    fitted = app.fit_gpu_runner(_cfg(), "gpu", gpus=0, cores=2)
    assert fitted.runner.num_workers == 1
    assert capsys.readouterr().err == f"{WARNING}, so runner.num_workers=8 is lowered to 1 for its 2 cores\n"
    assert app.fit_gpu_runner(_cfg(workers=2), "gpu", gpus=0, cores=16).runner.num_workers == 2
    assert capsys.readouterr().err == WARNING + "\n"


def test_left_alone_with_a_gpu_another_runner_or_a_served_model(capsys):
    cfg = _cfg()
    assert app.fit_gpu_runner(cfg, "gpu", gpus=1, cores=2) is cfg
    assert app.fit_gpu_runner(cfg, "default", gpus=0, cores=2) is cfg
    served = _cfg(kind="openai_api")
    assert app.fit_gpu_runner(served, "gpu", gpus=0, cores=2) is served
    assert capsys.readouterr().err == ""


def test_a_run_with_runner_gpu_on_a_cpu_machine(tmp_path, tiny_cache_dir, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(app, "available_cores", lambda: 2)
    code = cli.main(["runner=gpu", "runner.progress=false", "benchmark.limit=4", "runner.bootstrap_samples=20",
                     f"model.cache_dir={tiny_cache_dir}", f"benchmark.cache_dir={tmp_path / 'data'}",
                     f"output_dir={tmp_path / 'run'}"])
    assert code == 0
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if "warning" in line] == [
        f"{WARNING}, so runner.num_workers=8 is lowered to 1 for its 2 cores"]
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["config"]["runner"]["num_workers"] == 1
