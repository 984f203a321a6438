"""Preflight of the ``logger`` settings: checked before data or model load, like every other setting.

Why before: a misspelt mode or a missing ``wandb`` package found after inference would cost the whole run's time
before the one line that says how to fix it.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

from awaker_eval.config.schema import LOGGER_KINDS, LOGGER_MODES, LoggerConfig
from awaker_eval.preflight import ConfigError

INSTALL_HINT = 'pip install -e ".[wandb]"'
MAX_TAG_CHARS = 64  # W&B refuses longer tags at wandb.init, i.e. after the run


def wandb_installed() -> bool:
    """Whether ``import wandb`` can work, without importing it (about a second) during preflight."""
    try:
        return importlib.util.find_spec("wandb") is not None
    except (ImportError, ValueError):  # a broken install, or a blocked one (sys.modules entry None)
        return False


def _unused_settings(cfg: LoggerConfig) -> list[str]:
    """``logger.*`` values changed while no logger is chosen: they would do nothing, silently."""
    default = LoggerConfig()
    return [f"logger.{f.name}" for f in dataclasses.fields(cfg)
            if f.name != "kind" and getattr(cfg, f.name) != getattr(default, f.name)]


def check_logger(cfg: LoggerConfig) -> None:
    """The ``logger`` section: known kind and mode, usable tags and folder, the wandb package installed when it
    will be used (``mode=disabled`` sends nothing and needs none). Raises ``ConfigError`` (one line, exit 2)."""
    if cfg.kind not in LOGGER_KINDS:
        raise ConfigError(f"logger.kind={cfg.kind!r} is unknown: use one of {', '.join(LOGGER_KINDS)} "
                          "(e.g. logger=wandb)")
    if cfg.kind == "none":
        unused = _unused_settings(cfg)
        if unused:
            raise ConfigError(f"{', '.join(unused)} set but no logger is chosen: add logger=wandb")
        return
    if cfg.mode is not None and cfg.mode not in LOGGER_MODES:
        raise ConfigError(f"logger.mode={cfg.mode!r} is unknown: use one of {', '.join(LOGGER_MODES)} "
                          "(or null for W&B's own default)")
    for tag in cfg.tags:
        if not tag.strip() or len(tag) > MAX_TAG_CHARS:
            raise ConfigError(f"logger.tags: {tag!r} is not a usable W&B tag: 1 to {MAX_TAG_CHARS} characters")
    if cfg.dir and Path(cfg.dir).expanduser().exists() and not Path(cfg.dir).expanduser().is_dir():
        raise ConfigError(f"logger.dir={cfg.dir!r} is a file: pass a folder (W&B writes <dir>/wandb/)")
    if cfg.mode != "disabled" and not wandb_installed():
        raise ConfigError(f"logger=wandb needs the wandb package, which is not installed: {INSTALL_HINT}")
