"""The Hydra application: ``python -m awaker_eval [overrides]`` / ``awaker-eval run [overrides]``.

Config files live in the repository's ``conf/`` folder; the schemas in ``awaker_eval.config.schema`` are
registered right before Hydra composes. The command line is checked first (awaker_eval/overrides.py): a misspelt
key, a bad value, a grammar error or an unknown option is one line and exit 2, never Hydra's own multi-line message;
and Hydra only ever sees secrets as ``***`` (it writes multirun.yaml and logs its launch lines verbatim), the task
putting the real values back into the config that runs.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import OmegaConf

from awaker_eval.config.paths import CONF_DIR
from awaker_eval.config.schema import RunConfig, register_configs
from awaker_eval.engine import distributed
from awaker_eval.engine.loader import available_cores
from awaker_eval.engine.store import SHARD_DIR, load_predictions
from awaker_eval.extract.llm_judge import JudgeFailuresExceeded
from awaker_eval.overrides import hydra_args, unmask
from awaker_eval.redact import install_log_redaction
from awaker_eval.report import table_cli
from awaker_eval.report.runs import SCORES_FILE
from awaker_eval.result_logging.errors import LoggerFailed
from awaker_eval.run_validity import TooManyFailedSamples
from awaker_eval.sweep_dirs import register_resolvers
from awaker_eval.user_errors import run_reported


def predictions_saved(run_dir: Path | None) -> str:
    """What an interrupted / failed run leaves behind, for its one-line message."""
    if run_dir is None:  # stopped before the run directory was chosen: nothing was written
        return "0 predictions saved"
    n = len(load_predictions(run_dir)) if (run_dir / SHARD_DIR).is_dir() else 0
    return f"{n} predictions saved" + (f" in {run_dir}" if n else "")


def fit_gpu_runner(cfg: RunConfig, runner: str | None, gpus: int, cores: int) -> RunConfig:
    """``runner=gpu`` (its DataLoader workers sized for a GPU host) on a machine without a GPU: the model computes
    on the CPU, where those workers would take the cores it needs (8 workers on 2 cores, unannounced). So one
    warning line, and at most half the cores prepare batches, the rest left to the model's threads
    (engine/loader.main_process_threads). A model served over HTTP needs no local GPU, and ``model.device=cuda``
    is refused by the preflight with its own line: both left alone."""
    if runner != "gpu" or gpus or cfg.model.kind == "openai_api" or cfg.model.device.startswith("cuda"):
        return cfg
    requested = cfg.runner.num_workers
    workers = min(requested, cores // 2)
    lowered = f", so runner.num_workers={requested} is lowered to {workers} for its {cores} cores" \
        if workers < requested else ""
    print(f"warning: runner=gpu but no GPU is visible: the model runs on the CPU{lowered}", file=sys.stderr)
    return dataclasses.replace(cfg, runner=dataclasses.replace(cfg.runner, num_workers=workers))


def _visible_gpus() -> int:
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


@dataclasses.dataclass
class SweepRuns:
    """A multirun's finished jobs (their run directories, rank 0 only) and its folder: each job prints one
    result line, and the sweep's end one table of them all (``print_sweep_table``)."""

    directory: str | None = None
    runs: list[Path] = dataclasses.field(default_factory=list)


def print_sweep_table(sweep: SweepRuns) -> None:
    """The sweep's one leaderboard, at its end: its jobs among the published rows, as ``awaker-eval table SWEEP``
    prints them (rows named after each job's overrides), rather than the whole leaderboard after every job."""
    runs = [run for run in dict.fromkeys(sweep.runs) if (run / SCORES_FILE).is_file()]  # not a shard's unmerged run
    if not runs:
        return
    print()
    table_cli.main([str(run) for run in runs])
    print(f"\nsweep directory: {sweep.directory}")


def _hydra_task(dict_cfg, secrets: dict[str, str], sweep: SweepRuns) -> None:
    # deliberately lazy (docs/architecture.md): the pipeline loads transformers and datasets (0.6 s), kept off a
    # command line that the checks refuse and off Hydra's --cfg / --info
    from awaker_eval.pipeline import evaluate

    # The RunConfig dataclass, no DictConfig past this point; Hydra composed it from the masked command line.
    cfg = unmask(OmegaConf.to_object(dict_cfg), secrets)
    hydra_cfg = HydraConfig.get()
    cfg = fit_gpu_runner(cfg, hydra_cfg.runtime.choices.get("runner"), _visible_gpus(), available_cores())
    sweep_dir = hydra_cfg.runtime.output_dir if hydra_cfg.mode == RunMode.MULTIRUN else None
    install_log_redaction()

    run_dirs: list[Path] = []

    def run() -> int | None:
        try:
            evaluate(cfg, hydra_output_dir=sweep_dir, on_run_dir=run_dirs.append)
        except (JudgeFailuresExceeded, TooManyFailedSamples, LoggerFailed) as exc:  # every output is written
            print(f"error: {exc}", file=sys.stderr)  # (marked invalid; failed samples / passes retried on rerun)
            return 1
        return None

    code = run_reported(run, saved=lambda: predictions_saved(run_dirs[-1] if run_dirs else None))
    if code:  # bad config / path / data / weights, full disk, Ctrl-C: one line printed, no traceback
        sys.exit(code)
    if sweep_dir is not None and distributed.is_main():
        sweep.directory = hydra_cfg.sweep.dir
        sweep.runs.append(run_dirs[-1])


def _task_for(secrets: dict[str, str], sweep: SweepRuns):
    """The function Hydra runs per job, holding the real values of the masked secrets and the sweep's runs."""

    def awaker_eval_task(dict_cfg) -> None:
        _hydra_task(dict_cfg, secrets, sweep)

    return awaker_eval_task


def main(argv: list[str] | None = None) -> int:
    if not CONF_DIR.is_dir():
        print(f"error: config folder {CONF_DIR} not found: install awaker_eval from a checkout (pip install -e .)")
        return 2
    checked = hydra_args(list(sys.argv[1:] if argv is None else argv))  # OverrideError: one line, exit 2
    register_configs()
    register_resolvers()  # sweep folders named after the overrides (conf/config.yaml hydra.sweep)
    sweep = SweepRuns()
    task = hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")(
        _task_for(checked.secrets, sweep))
    saved = sys.argv
    sys.argv = [saved[0] if saved else "awaker-eval"] + checked.argv  # secrets as ***: what Hydra writes and logs
    try:
        task()
    finally:
        sys.argv = saved
    print_sweep_table(sweep)
    return 0
