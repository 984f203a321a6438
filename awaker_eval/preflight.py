"""Checks over the whole typed config that run before anything is loaded or written, each failing with one sentence
naming the key and the fix (``ConfigError``): enums, ranges, pixel bounds, device availability, endpoint reachability,
paths. ``check_samples`` runs right after data loading, before the model loads.

Why here and not in each stage: a value found bad only after the model loaded (or, worse, never: a 0-token budget
fails every sample and scores 0.0 with exit 0) costs minutes and can leave a wrong number behind.
"""

from __future__ import annotations

import math
import re
import socket
from pathlib import Path
from urllib.parse import urlsplit

from awaker_eval.config.schema import (SELF_CHECK_POLICIES, BenchmarkConfig, JudgeConfig, ModelConfig, RunConfig,
                                       RunnerConfig)
from awaker_eval.data.sources import check_benchmark_source, names_a_file, repo_layouts
from awaker_eval.data.subsets import SUBSETS
from awaker_eval.engine.shards import parse_part
from awaker_eval.models.factory import check_model_config
from awaker_eval.models.loading import looks_like_local_path, resolve_checkpoint
from awaker_eval.models.options import (ADAPTER_DTYPE_MODES, CHOICE_PADDINGS, GENERATE_PADDINGS, MODEL_DTYPES,
                                        ROUTING_MODES)
from awaker_eval.redact import redact_url
from awaker_eval.tasks.base import Benchmark, BenchmarkError
from awaker_eval.tasks.registry import get_benchmark, registered

RUNNER_MODES = ("generate", "choice")
LANGUAGES = ("en", "cn")
DEVICE_PATTERN = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
PROBE_TIMEOUT_S = 3.0  # a reachable server accepts a TCP connection in milliseconds
MAX_SEED = 2**63 - 1  # torch.manual_seed, numpy's bootstrap generator and a server's int64 seed all take it


class ConfigError(ValueError):
    """A configuration that cannot work; the message names the key and the fix."""


def _one_of(key: str, value: object, valid: list[str] | tuple[str, ...], scope: str = "") -> None:
    if value not in valid:
        raise ConfigError(f"{key}={value!r} is unknown{scope}: use one of {', '.join(map(str, valid))}")


def _at_least(key: str, value: float | None, low: float, optional: bool = False) -> None:
    if value is None and optional:
        return
    if value is None or not math.isfinite(value) or value < low:
        bound = f">= {low}" + (" or null" if optional else "")
        raise ConfigError(f"{key}={value!r} is out of range: it must be {bound}")


def _positive(key: str, value: float | None) -> None:
    if value is None or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{key}={value!r} is out of range: it must be a number > 0")


def _fraction(key: str, value: float) -> None:
    if value is None or not math.isfinite(value) or not 0 <= value <= 1:
        raise ConfigError(f"{key}={value!r} is out of range: it must be a number from 0 to 1")


def _seed(key: str, value: int) -> None:
    """A seed every consumer accepts: torch and numpy raise (after inference, for the bootstrap) outside it."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise ConfigError(f"{key}={value!r} is out of range: it must be an integer from 0 to 2**63-1")


def known_repos() -> dict[str, set[str]]:
    """The hub repos every registered benchmark declares, with their layouts (a source of another benchmark's
    layout is refused by name); a broken plugin is reported when it is asked for, not on every run."""
    loaded = []
    for kind in registered():
        try:
            loaded.append(get_benchmark(kind))
        except BenchmarkError:
            continue
    return repo_layouts(loaded)


def check_benchmark(b: BenchmarkConfig) -> Benchmark:
    """The benchmark settings: a registered kind with its layout / protocol / extractor (asked of the benchmark
    object), ranges, resolution bounds, an existing local source that matches the layout, the judge. Returns the
    benchmark object: the entry point resolves it here, once."""
    try:
        bench = get_benchmark(b.kind)
    except BenchmarkError as exc:
        raise ConfigError(f"benchmark.kind: {exc}") from exc
    _one_of("benchmark.language", b.language, LANGUAGES)
    check_release(bench, b)
    _one_of("benchmark.protocol", b.protocol, bench.protocol_names(), f" for {b.kind}")
    b.protocol = bench.config_protocol(b.protocol)  # aliases are one protocol: one run id, one note
    _one_of("benchmark.extractor", b.extractor, sorted(bench.extractors), f" for {b.kind}")
    try:
        bench.check_config(b)
    except BenchmarkError as exc:
        raise ConfigError(str(exc)) from exc
    _at_least("benchmark.limit", b.limit, 1, optional=True)
    check_subset(b)
    _at_least("benchmark.max_new_tokens", b.max_new_tokens, 1)
    _at_least("benchmark.sample_size", b.sample_size, 1)
    _at_least("benchmark.min_pixels", b.min_pixels, 1, optional=True)
    _at_least("benchmark.max_pixels", b.max_pixels, 1, optional=True)
    if b.min_pixels is not None and b.max_pixels is not None and b.min_pixels > b.max_pixels:
        raise ConfigError(f"benchmark.min_pixels={b.min_pixels} is larger than benchmark.max_pixels={b.max_pixels}: "
                          "lower min_pixels or raise max_pixels")
    if b.source and names_a_file(b.source) and not Path(b.source).expanduser().exists():
        raise ConfigError(f"benchmark.source={b.source!r}: no such file (a name ending in {Path(b.source).suffix} "
                          "is a local file, not a hub id): pass the file's path")
    if b.source and looks_like_local_path(b.source) and not Path(b.source).expanduser().exists():
        raise ConfigError(f"benchmark.source={b.source!r} does not exist: pass an existing file/dir or a hub id")
    check_benchmark_source(b, bench, known_repos())  # the layout's default source, or one that matches it
    if b.judge.enabled:
        check_judge(b.judge)
    return bench


def check_subset(b: BenchmarkConfig) -> None:
    """``benchmark.subset`` one of first / random / stratified with a seed every run can record; a random or
    stratified choice needs the ``limit`` it chooses for (without one every unit runs and the setting would only
    move the run to another directory)."""
    _one_of("benchmark.subset", b.subset, SUBSETS)
    _seed("benchmark.subset_seed", b.subset_seed)
    if b.subset != "first" and b.limit is None:
        raise ConfigError(f"benchmark.subset={b.subset} chooses which benchmark.limit units run, but no limit is "
                          "set: add benchmark.limit=N, or leave benchmark.subset at first")


def check_release(bench, b: BenchmarkConfig) -> None:
    """``benchmark.split`` / ``version`` among the benchmark's own (they are written into every label and table);
    a benchmark without versions keeps the schema's default, which names none."""
    if bench.splits:
        _one_of("benchmark.split", b.split, bench.splits, f" for {b.kind}")
    if bench.versions:
        _one_of("benchmark.version", b.version, bench.versions, f" for {b.kind}")
    elif b.version != BenchmarkConfig.version:
        raise ConfigError(f"benchmark.version={b.version!r} does not apply to {b.kind}, which has no versions: "
                          f"leave it at its default ({BenchmarkConfig.version})")


def check_judge(j: JudgeConfig) -> None:
    if not j.model:
        raise ConfigError("benchmark.judge.model is not set: the judge needs benchmark.judge.model=NAME with base_url")
    _at_least("benchmark.judge.retries", j.retries, 1)
    _at_least("benchmark.judge.http_retries", j.http_retries, 0)
    _positive("benchmark.judge.timeout_s", j.timeout_s)
    _at_least("benchmark.judge.backoff_s", j.backoff_s, 0)
    _at_least("benchmark.judge.temperature", j.temperature, 0)
    _at_least("benchmark.judge.max_tokens", j.max_tokens, 1, optional=True)
    _at_least("benchmark.judge.max_failures", j.max_failures, 0)


def check_runner(r: RunnerConfig) -> None:
    _one_of("runner.mode", r.mode, RUNNER_MODES)
    _at_least("runner.batch_size", r.batch_size, 1)
    _at_least("runner.max_batch_visual_tokens", r.max_batch_visual_tokens, 1, optional=True)
    _at_least("runner.num_workers", r.num_workers, 0)
    _at_least("runner.prefetch_bytes", r.prefetch_bytes, 0, optional=True)  # 0: batches prepared in the main process
    _at_least("runner.bootstrap_samples", r.bootstrap_samples, 0)
    _positive("runner.repetition_penalty", r.repetition_penalty)
    _at_least("runner.threads", r.threads, 1, optional=True)  # null: chosen from the cores left free
    _one_of("runner.self_check", r.self_check, SELF_CHECK_POLICIES)
    _seed("runner.seed", r.seed)
    _fraction("runner.max_failed_fraction", r.max_failed_fraction)
    check_shard(r)


def check_shard(r: RunnerConfig) -> None:
    """``runner.shard=I/N``: 0 <= I < N; a shard never sets the store aside (the other shards' work is in it)."""
    try:
        part = parse_part(r.shard)
    except ValueError as exc:
        raise ConfigError(f"runner.shard: {exc}") from None
    if part is not None and not r.resume:
        raise ConfigError(f"runner.shard={part.label} with runner.resume=false would set aside the other shards' "
                          f"predictions too: start afresh in another directory (output_dir=...) instead")


def check_model(m: ModelConfig) -> None:
    """Kind, backend enums and ranges; the local backends' name lists come from ``models/options.py``."""
    try:
        check_model_config(m)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    check_secret_patterns(m.secret_patterns)
    _seed("model.seed", m.seed)
    if m.kind != "awaker2_5_vl":  # settings of the routed adapters: elsewhere they would do nothing, silently
        defaults = ModelConfig()
        for key in ("routing_mode", "adapter_dtype_mode"):
            if getattr(m, key) != getattr(defaults, key):
                raise ConfigError(f"model.{key}={getattr(m, key)!r} applies to Awaker2.5-VL only (model=awaker2_5_vl "
                                  f"or awaker_tiny); model.kind={m.kind!r} has no routed adapters")
    if m.kind == "openai_api":
        _at_least("model.max_concurrency", m.max_concurrency, 1)
        _at_least("model.max_retries", m.max_retries, 0)
        _positive("model.timeout_s", m.timeout_s)
        return
    _one_of("model.dtype", m.dtype, sorted(MODEL_DTYPES))
    _one_of("model.choice_padding", m.choice_padding, CHOICE_PADDINGS)
    _one_of("model.generate_padding", m.generate_padding, GENERATE_PADDINGS)
    if not DEVICE_PATTERN.fullmatch(m.device):
        raise ConfigError(f"model.device={m.device!r} is unknown: use auto, cpu, cuda or cuda:N")
    if m.kind == "awaker2_5_vl":
        _one_of("model.routing_mode", m.routing_mode, ROUTING_MODES)
        _one_of("model.adapter_dtype_mode", m.adapter_dtype_mode, ADAPTER_DTYPE_MODES)
    check_device(m.device)


def check_secret_patterns(patterns: list[str]) -> None:
    """``model.secret_patterns``: regexes that compile and cannot match the empty string (such a pattern would mask
    nothing useful and put *** between every character). Named by position: a pattern may be a literal secret."""
    for i, pattern in enumerate(patterns):
        key = f"model.secret_patterns[{i}]"
        if not isinstance(pattern, str) or not pattern:
            raise ConfigError(f"{key} is empty or not a string: give a regular expression such as 'tenant-[0-9]+'")
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise ConfigError(f"{key} is not a valid regular expression ({exc})") from exc
        if compiled.search("") is not None:
            raise ConfigError(f"{key} matches the empty string: make it match the secret itself (+ rather than * or ?), "
                              "e.g. 'tenant-[0-9]+'")


def check_device(device: str) -> None:
    """``cuda`` / ``cuda:N`` only where that GPU exists (``auto`` falls back to the CPU by design)."""
    if not device.startswith("cuda"):
        return
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = int(device.partition(":")[2] or 0)
    if index >= count:
        found = f"{count} CUDA device(s) are visible" if count else "no CUDA device is available"
        raise ConfigError(f"model.device={device!r} cannot be used: {found}; use model.device=cpu or auto")


def check_endpoint(key: str, url: str, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """A TCP connection to ``url``'s host and port, so an unreachable server fails now, not after every sample."""
    shown = redact_url(url)
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise ConfigError(f"{key}={shown!r} is not a valid URL ({exc})") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{key}={shown!r} is not an http(s):// URL with a host")
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = "timed out" if isinstance(exc, socket.timeout) else (exc.strerror or type(exc).__name__)
        raise ConfigError(f"{key}={shown!r}: cannot connect to {parts.hostname}:{port} ({reason}): start the "
                          "server or fix the URL") from exc


def check_paths(m: ModelConfig) -> None:
    if m.kind in ("qwen2_vl", "awaker2_5_vl") and m.path:
        local = resolve_checkpoint(m.path, m.revision, what="model.path", allow_patterns=["config.json"])  # raises CheckpointNotFound with the fix
        if looks_like_local_path(m.path) and not (Path(local) / "config.json").is_file():
            raise ConfigError(f"model.path={m.path!r} has no config.json, so it is not a Qwen2-VL checkpoint "
                              "directory: pass the folder that holds config.json, the weights and the processor")
    if m.kind == "awaker2_5_vl" and m.checkpoint and looks_like_local_path(m.checkpoint):
        resolve_checkpoint(m.checkpoint, m.checkpoint_revision, what="model.checkpoint", allow_patterns=["*.json"])


def check_folder_name(key: str, value: str | None) -> None:
    """``value`` names one folder of ``<results_root>/<benchmark.name>/<model.name>/<run_id>``: a ``/`` or a
    ``..`` would put the run (and everything it writes) somewhere else, even outside ``results_root``."""
    text = str(value) if value is not None else ""
    if text in ("", ".", "..") or any(c in text for c in "/\\\0"):
        raise ConfigError(f"{key}={value!r} is not a folder name: the run directory is <results_root>/"
                          "<benchmark.name>/<model.name>/<run_id>, one folder each (no '/', not '.' or '..'); "
                          "pass output_dir=PATH to write anywhere else")


def check_run_location(cfg: RunConfig) -> None:
    check_folder_name("benchmark.name", cfg.benchmark.name)
    if cfg.model.name is not None:  # unset: labelled from the model (rundir.labelled), a folder name by design
        check_folder_name("model.name", cfg.model.name)
    if cfg.run_id:  # unset or empty: the default run id
        check_folder_name("run_id", cfg.run_id)


def preflight(cfg: RunConfig) -> Benchmark:
    """Every check that needs neither the data nor the model; raises ``ConfigError`` (or ``CheckpointNotFound``).
    Returns the benchmark object of ``cfg.benchmark.kind`` (resolved once, here)."""
    check_run_location(cfg)
    bench = check_benchmark(cfg.benchmark)
    check_runner(cfg.runner)
    check_model(cfg.model)
    if cfg.model.kind == "openai_api":
        check_endpoint("model.base_url", cfg.model.base_url)
    if cfg.benchmark.judge.enabled:
        check_endpoint("benchmark.judge.base_url", cfg.benchmark.judge.base_url)
    check_paths(cfg.model)
    return bench


def check_samples(cfg: RunConfig, samples: list) -> None:
    """After loading the data, before the model: an empty benchmark would score 0 of 0 and look like a result."""
    if not samples:
        b = cfg.benchmark
        raise ConfigError(f"benchmark {b.name!r} (source {b.source or 'embedded sample'}, split {b.split}) has 0 "
                          "samples after loading: check benchmark.source / split / data_files")
