"""Where a run writes: ``<results_root>/<benchmark>/<model>/<run_id>/`` plus the resolved config saved there.

The default run id is a hash of the benchmark + model + generation settings and of the loaded data's content, so
rerunning the same command on the same data lands in the same directory and resumes; anything that changes
predictions changes the directory (and the store's content keys). ``config.yaml`` holds the first settings that
ran in a directory and is never overwritten; a later invocation whose result settings differ is refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from awaker_eval.atomic_io import write_text_atomic
from awaker_eval.config.schema import ModelConfig, RunConfig
from awaker_eval.redact import redact, redact_text
from awaker_eval.preflight import ConfigError, check_run_location

CONFIG_FILE = "config.yaml"
# Characters a label keeps in a folder name (on every OS): the others, ':' '/' '*' among them, become '_'.
_UNSAFE_IN_FOLDER = re.compile(r"[^A-Za-z0-9._@+-]")


class RunDirMismatch(ConfigError):
    """The run directory holds a run made with other result settings."""

# Runner fields that change predictions (others, such as batch size or workers, must not).
_RESULT_RUNNER_FIELDS = ("mode", "repetition_penalty")
# Model settings that change results in one runner mode only: in other modes they are left out of the run id (so
# a generate run keeps the id it had before the setting existed) and may differ from a directory's config.yaml.
_MODE_ONLY_MODEL_FIELDS = {"choice_padding": "choice", "generate_padding": "generate"}
# Model settings added after runs were stored: at the value that reproduces the earlier behaviour they are left out
# of the run id too, so those runs keep their ids (and directories).
_EARLIER_MODEL_VALUES = {"choice_padding": "left", "generate_padding": "left"}
# Benchmark settings added after runs were stored, left out of the run id at their earlier values likewise.
_EARLIER_BENCHMARK_VALUES = {"subset": "first", "subset_seed": 0}
# Model settings that change what is written down, never a prediction: outside the run id and the settings check.
_NON_RESULT_MODEL_FIELDS = ("secret_patterns",)


def default_run_id(cfg: RunConfig, data_digest: str | None = None) -> str:
    """``run-<hash>`` of the result settings and (when given) the content digest of the loaded samples."""
    runner = {k: getattr(cfg.runner, k) for k in _RESULT_RUNNER_FIELDS}
    model = {k: v for k, v in dataclasses.asdict(cfg.model).items()
             if _MODE_ONLY_MODEL_FIELDS.get(k, cfg.runner.mode) == cfg.runner.mode
             and not (k in _EARLIER_MODEL_VALUES and v == _EARLIER_MODEL_VALUES[k])
             and k not in _NON_RESULT_MODEL_FIELDS}
    payload = {
        "benchmark": {k: v for k, v in dataclasses.asdict(cfg.benchmark).items()
                      if not (k in _EARLIER_BENCHMARK_VALUES and v == _EARLIER_BENCHMARK_VALUES[k])},
        "model": model,
        "runner": runner,
    }
    if data_digest is not None:
        payload["data"] = data_digest
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return f"run-{digest}"


def api_label(m: ModelConfig) -> str:
    """``<api_model>@<host>[_<port>]`` of a served model (``Qwen2-VL-7B@127.0.0.1_8000``), one folder name. Why:
    every served model would otherwise be ``openai_api``, and two vLLM models would share rows and folders. Only
    the host and port of ``base_url`` are used, never its userinfo, path or query (where credentials live), and
    the result is redacted like any written setting (``model.secret_patterns``) before it is made folder-safe."""
    try:
        parts = urlsplit(m.base_url or "")
        where = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    except ValueError:  # a malformed port: the preflight reports the URL; the label names the model alone
        where = ""
    text = redact_text(f"{m.api_model or m.kind}@{where}" if where else str(m.api_model or m.kind))
    return _UNSAFE_IN_FOLDER.sub("_", text).strip("._") or m.kind


def labelled(cfg: RunConfig, hydra_output_dir: str | None = None) -> RunConfig:
    """``cfg`` with ``model.name`` filled when it is unset (conf/model/openai_api.yaml): a served model is
    labelled ``api_label``, another model by its kind; an explicit ``model.name`` always wins. A directory the
    run resumes (``output_dir`` or the sweep job's folder) keeps the name its config.yaml holds, so runs made
    before labels existed (``openai_api``) resume rather than being refused as made with other settings."""
    if cfg.model.name is not None:
        return cfg
    name = api_label(cfg.model) if cfg.model.kind == "openai_api" else cfg.model.kind
    explicit = cfg.output_dir or hydra_output_dir
    stored = read_config(Path(explicit)) if explicit else None
    stored_model = stored.get("model") if isinstance(stored, dict) else None
    if isinstance(stored_model, dict) and isinstance(stored_model.get("name"), str) and stored_model["name"]:
        name = stored_model["name"]
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, name=name))


def resolve_run_dir(cfg: RunConfig, hydra_output_dir: str | None = None, data_digest: str | None = None) -> Path:
    """Explicit ``output_dir`` > Hydra multirun job dir > ``results_root/benchmark/model/run_id``."""
    if cfg.output_dir:
        return Path(cfg.output_dir)
    if hydra_output_dir:
        return Path(hydra_output_dir)
    check_run_location(cfg)  # every part one folder name: the run stays inside results_root
    run_id = cfg.run_id or default_run_id(cfg, data_digest)
    return Path(cfg.results_root) / cfg.benchmark.name / cfg.model.name / run_id


def config_yaml(cfg: RunConfig) -> str:
    from omegaconf import OmegaConf

    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


def write_config(run_dir: Path, cfg: RunConfig) -> Path:
    """Save the resolved config as YAML (the exact settings behind every number in the directory), once: the
    first settings that ran here are never overwritten (later ones are recorded in run.json's attempts)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / CONFIG_FILE
    if not path.exists():
        write_text_atomic(path, config_yaml(redact(cfg)))  # URL secrets -> ***
    return path


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(data, dict):
        return {prefix[:-1]: data}
    out: dict[str, Any] = {}
    for key, value in data.items():
        out.update(_flatten(value, f"{prefix}{key}."))
    return out


def settings_diff(run_dir: Path, cfg: RunConfig) -> dict[str, list[Any]]:
    """``{dotted key: [first value, this invocation's value]}`` against the directory's config.yaml ({} if none).
    Both sides redacted: config.yaml holds ``***`` for secrets, and the diff is written to run.json."""
    first = read_config(run_dir)
    if first is None:
        return {}
    old, new = _flatten(first), _flatten(yaml.safe_load(config_yaml(redact(cfg))) or {})
    return {k: [old.get(k), new.get(k)] for k in sorted(old.keys() | new.keys()) if old.get(k) != new.get(k)}


def is_result_setting(key: str) -> bool:
    """Settings that change predictions or scores (the ones the default run id hashes)."""
    if key in {f"model.{k}" for k in _NON_RESULT_MODEL_FIELDS}:
        return False
    return key.startswith(("benchmark.", "model.")) or key in {f"runner.{k}" for k in _RESULT_RUNNER_FIELDS}


def result_differences(a: dict, b: dict, except_keys: tuple[str, ...] = ()) -> list[str]:
    """``key: a vs b`` for every result setting two saved configs both hold and set differently (a model field
    of one runner mode only where one of the runs is in that mode), ``except_keys`` aside."""
    fa, fb = _flatten(a or {}), _flatten(b or {})
    modes = {fa.get("runner.mode"), fb.get("runner.mode")}
    out = []
    for key in sorted(fa.keys() & fb.keys()):
        only_in = _MODE_ONLY_MODEL_FIELDS.get(key.removeprefix("model."))
        if key in except_keys or not is_result_setting(key) or fa[key] == fb[key] or only_in not in (None, *modes):
            continue
        out.append(f"{key}: {fa[key]!r} vs {fb[key]!r}")
    return out


def check_same_results(run_dir: Path, diff: dict[str, list[Any]]) -> None:
    """Refuse an invocation whose result settings differ from the directory's config.yaml: its numbers would be
    filed under another run's settings. Keys the saved config lacks (settings added by a newer version) are
    recorded in the diff but not refused, so an upgrade does not strand existing runs."""
    saved = _flatten(read_config(run_dir) or {})
    mode = saved.get("runner.mode")
    changed = [k for k in diff if is_result_setting(k) and k in saved
               and _MODE_ONLY_MODEL_FIELDS.get(k.removeprefix("model."), mode) == mode]
    if changed:
        shown = "; ".join(f"{k}: {diff[k][0]!r} there, {diff[k][1]!r} now" for k in changed[:3])
        more = f" (and {len(changed) - 3} more)" if len(changed) > 3 else ""
        raise RunDirMismatch(
            f"{run_dir / CONFIG_FILE} was made with other settings ({shown}{more}): pass another output_dir, "
            f"or remove that directory to start over"
        )


def read_config(run_dir: Path) -> Any:
    """The saved config as plain YAML data (``{}`` for an empty file); None when the directory has none."""
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        return None
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
