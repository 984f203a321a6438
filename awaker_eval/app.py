"""The Hydra application: ``python -m awaker_eval [overrides]`` / ``awaker-eval run [overrides]``.

Config files live in the repository's ``conf/`` folder; the schemas in ``awaker_eval.config.schema`` are
registered right before Hydra composes, so a typo in a key fails with Hydra's own message.
"""

from __future__ import annotations

import sys
from pathlib import Path

from awaker_eval.data.errors import DataError
from awaker_eval.models.loading import CheckpointNotFound
from awaker_eval.preflight import ConfigError

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
USER_ERRORS = (ConfigError, CheckpointNotFound, DataError)  # all raised before any model is loaded


def _hydra_task(dict_cfg) -> None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    from awaker_eval.pipeline import evaluate

    cfg = OmegaConf.to_object(dict_cfg)  # the RunConfig dataclass, no DictConfig past this point
    hydra_cfg = HydraConfig.get()
    sweep_dir = hydra_cfg.runtime.output_dir if hydra_cfg.mode == RunMode.MULTIRUN else None
    try:
        evaluate(cfg, hydra_output_dir=sweep_dir)
    except USER_ERRORS as exc:  # bad config / path / hub access: one sentence, no traceback
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


def main(argv: list[str] | None = None) -> int:
    import hydra

    from awaker_eval.config.schema import register_configs
    from awaker_eval.sweep_dirs import register_resolvers

    if not CONF_DIR.is_dir():
        print(f"error: config folder {CONF_DIR} not found: install awaker_eval from a checkout (pip install -e .)")
        return 2
    register_configs()
    register_resolvers()  # sweep folders named after the overrides (conf/config.yaml hydra.sweep)
    task = hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")(_hydra_task)
    saved = sys.argv
    sys.argv = [saved[0] if saved else "awaker-eval"] + list(sys.argv[1:] if argv is None else argv)
    try:
        task()
    finally:
        sys.argv = saved
    return 0
