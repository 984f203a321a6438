"""``load_samples(cfg)``: the one data entry point of the pipeline; dispatches on kind / layout and
resolves where the files come from (local path, URL or pinned hub revision)."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from awaker_eval.config.schema import BenchmarkConfig
from awaker_eval.data import json_stream, mmbench, mme_realworld
from awaker_eval.data.errors import DataError
from awaker_eval.data.sources import Source, resolve_source
from awaker_eval.data.parquet_inplace import open_parquet_inplace
from awaker_eval.data.synthetic import JSON_NAME, ensure_synthetic_benchmark
from awaker_eval.data.tables import TableSource, open_table
from awaker_eval.data.warnings import DataWarnings, summary_lines
from awaker_eval.tasks.base import BenchmarkError
from awaker_eval.tasks.registry import get_benchmark, registered
from awaker_eval.types import Sample

log = logging.getLogger(__name__)
DEFAULT_CACHE = "~/.cache/awaker_eval/data"

# MMBench hub mirrors: layout -> (config per language, split names); both hold v1.0 only.
MMBENCH_HF = {
    "hf": ({"en": "en", "cn": "cn"}, {"dev": "dev", "test": "test"}),
    "hf_m4": ({"en": None}, {"dev": "validation", "test": "test"}),
}


@dataclass(frozen=True)
class LoadedBenchmark:
    """The samples of one benchmark split and the upstream-accepted oddities met while loading them."""

    samples: list[Sample]
    warnings: DataWarnings


def cache_root(cfg: BenchmarkConfig) -> Path:
    return Path(cfg.cache_dir or DEFAULT_CACHE).expanduser()


def _hf_cache(cfg: BenchmarkConfig) -> str | None:
    return str(cache_root(cfg) / "hf_datasets") if cfg.cache_dir else None


def _is_local(source: str) -> bool:
    return Path(source).expanduser().exists()


def _load_synthetic(cfg: BenchmarkConfig, warnings: DataWarnings) -> list[Sample]:
    if cfg.language != "en":
        raise DataError("the embedded synthetic sample is English only (benchmark.language=en)")
    folder = ensure_synthetic_benchmark(cache_root(cfg), n=cfg.sample_size, seed=0)
    return mme_realworld.load_official_json(folder / JSON_NAME, folder, cfg.name, cfg.language, warnings)


def _hub_file(src: Source, cfg: BenchmarkConfig) -> Path:
    """One file of a hub dataset repo (downloaded once into the HF cache)."""
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(src.source, src.data_files, repo_type="dataset", revision=src.revision,
                                    cache_dir=_hf_cache(cfg)))
    except Exception as exc:
        raise DataError(f"cannot fetch {src.data_files} from {src.source} (revision {src.revision}): "
                        f"{type(exc).__name__}: {exc}") from exc


def _official_json_path(cfg: BenchmarkConfig) -> Path:
    src = resolve_source(cfg)
    if _is_local(src.source):
        path = Path(src.source).expanduser()
        return path / (src.data_files or JSON_NAME) if path.is_dir() else path
    return _hub_file(src, cfg)


def _load_mme_official(cfg: BenchmarkConfig, warnings: DataWarnings) -> list[Sample]:
    if not cfg.image_root:
        raise DataError("layout official_json needs benchmark.image_root: the folder where the MME-RealWorld "
                        "image archives were extracted")
    return mme_realworld.load_official_json(_official_json_path(cfg), cfg.image_root, cfg.name, cfg.language,
                                            warnings, cfg.allow_outside_paths)


def _json_array_files(src: Source, cfg: BenchmarkConfig) -> list[str]:
    """The Base64 JSON files: local ones as given, hub ones downloaded (resumable) at the pinned revision."""
    root = src.source
    if not _is_local(root):
        from huggingface_hub import snapshot_download

        try:
            root = snapshot_download(src.source, repo_type="dataset", revision=src.revision,
                                     allow_patterns=src.data_files, cache_dir=_hf_cache(cfg))
        except Exception as exc:
            raise DataError(f"cannot download {src.data_files} from {src.source} (revision {src.revision}): "
                            f"{type(exc).__name__}: {exc}") from exc
    path = Path(root).expanduser()
    if path.is_file():
        return [str(path)]
    patterns = [src.data_files or "*.json"] if not isinstance(src.data_files, list) else src.data_files
    files = sorted({str(p) for pat in patterns for p in path.glob(str(pat)) if p.suffix == ".json"})
    if not files:
        raise DataError(f"{path}: no .json files match {patterns}")
    return files


def _load_mme_table(cfg: BenchmarkConfig, warnings: DataWarnings) -> list[Sample]:
    src = resolve_source(cfg)
    if cfg.layout == "base64_json":  # multi-GB arrays: streamed, never one block (json_stream)
        ds = json_stream.open_json_arrays(_json_array_files(src, cfg), cache_root(cfg) / "json_arrays")
    else:
        where = src.source
        if cfg.layout == "tsv" and not _is_local(src.source) and src.data_files:  # a TSV in a hub repo
            where = str(_hub_file(src, cfg))
            src = Source(where)
        if cfg.layout == "parquet":  # read the (downloaded) shards in place: no second, arrow copy on disk
            ds = open_parquet_inplace(src.source, src.revision, src.data_files, _hf_cache(cfg))
        else:
            ds = open_table(TableSource(src.source, src.revision, src.data_files, cache_dir=_hf_cache(cfg)))
    return mme_realworld.load_table(ds, cfg.name, cfg.language, cfg.image_root, src.source, warnings,
                                    cfg.allow_outside_paths)


def _load_mmbench(cfg: BenchmarkConfig, warnings: DataWarnings) -> list[Sample]:
    name = mmbench.tsv_name(cfg.version, cfg.split, cfg.language)
    src = resolve_source(cfg)
    if cfg.layout == "tsv":
        source = _download(src.source, cfg)
        _check_md5(source, mmbench.TSV_MD5[name])
        table = TableSource(source, src.revision, src.data_files, cache_dir=_hf_cache(cfg), suffix=".tsv")
    else:
        configs, splits = MMBENCH_HF[cfg.layout]
        if cfg.version != "v10" or cfg.language not in configs:
            raise DataError(f"{src.source} mirrors MMBench v1.0 {sorted(configs)} only; use layout=tsv for {name}")
        table = TableSource(src.source, src.revision, src.data_files, configs[cfg.language], splits[cfg.split],
                            cache_dir=_hf_cache(cfg))
    return mmbench.load_table(open_table(table), cfg.name, cfg.language, cfg.split != "test", table.source, warnings,
                              pandas_na=cfg.layout == "tsv")


def _download(source: str, cfg: BenchmarkConfig) -> str:
    """A URL is fetched once into ``<cache>/downloads/`` (atomic rename); local paths pass through.
    (Plain stdlib HTTP: ``datasets``' own URL support needs the optional ``aiohttp``.)"""
    if not source.startswith(("http://", "https://")):
        return source
    target = cache_root(cfg) / "downloads" / source.rstrip("/").split("/")[-1].split("?")[0]
    if target.is_file():
        return str(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        with urllib.request.urlopen(source, timeout=60) as response, tmp.open("wb") as out:
            shutil.copyfileobj(response, out, 1 << 22)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DataError(f"cannot download {source}: {exc}. Download it by hand and set benchmark.source to the "
                        f"local file.") from exc
    log.info("downloaded %s to %s", source, target)
    return str(target)


def _check_md5(path: str, expected: str) -> None:
    """Warn (do not fail) when a VLMEvalKit TSV is not the pinned release; the digest is logged either way."""
    file = Path(path).expanduser()
    if not file.is_file():
        return
    digest = hashlib.md5()
    with file.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    if digest.hexdigest() != expected:
        log.warning("%s: MD5 %s differs from the pinned release %s", file, digest.hexdigest(), expected)
    else:
        log.info("%s: MD5 %s matches the pinned release", file, expected)


def _load_mcq(cfg: BenchmarkConfig, warnings: DataWarnings) -> list[Sample]:
    from awaker_eval.tasks.mcq.loader import load_mcq

    return load_mcq(cfg, warnings)


# The layouts of the built-in benchmarks, read by their Benchmark objects (awaker_eval/tasks/).
LOADERS: dict[tuple[str, str], Callable[[BenchmarkConfig, DataWarnings], list[Sample]]] = {
    ("mme_realworld", "synthetic"): _load_synthetic,
    ("mme_realworld", "official_json"): _load_mme_official,
    ("mme_realworld", "base64_json"): _load_mme_table,
    ("mme_realworld", "tsv"): _load_mme_table,
    ("mme_realworld", "parquet"): _load_mme_table,
    ("mmbench", "tsv"): _load_mmbench,
    ("mmbench", "hf"): _load_mmbench,
    ("mmbench", "hf_m4"): _load_mmbench,
    ("mcq", "tsv"): _load_mcq,
}


def load_benchmark(cfg: BenchmarkConfig) -> LoadedBenchmark:
    """All samples of the configured benchmark split (first ``cfg.limit`` units when set), images undecoded,
    loaded by the benchmark object of ``cfg.kind``, with the oddities upstream accepts counted by kind (a
    ``DataError`` for the first one under ``strict``)."""
    try:
        bench = get_benchmark(cfg.kind)
    except BenchmarkError as exc:
        raise DataError(str(exc)) from exc
    if bench.layouts and cfg.layout not in bench.layouts:
        valid = ", ".join(f"{k}/{layout}" for k in registered() for layout in get_benchmark(k).layouts)
        raise DataError(f"unknown benchmark kind/layout {cfg.kind!r}/{cfg.layout!r}; valid: {valid}")
    if cfg.language not in ("en", "cn"):
        raise DataError(f"benchmark.language must be 'en' or 'cn', got {cfg.language!r}")
    warnings = DataWarnings(strict=cfg.strict)
    samples = limited(bench.load(cfg, warnings), cfg.limit)
    if cfg.limit is not None:
        warnings = warnings.restricted({s.id for s in samples} | {s.group for s in samples if s.group})
    for line in summary_lines(warnings.as_dict()):
        log.warning("%s", line)
    return LoadedBenchmark(samples, warnings)


def load_samples(cfg: BenchmarkConfig) -> list[Sample]:
    """``load_benchmark(cfg).samples``."""
    return load_benchmark(cfg).samples


def limited(samples: list[Sample], limit: int | None) -> list[Sample]:
    """The first ``limit`` scoring units (``Sample.group``): for MMBench whole questions (every circular pass
    of the first ``limit`` groups), so that a smoke run's CircularEval never scores a question on a subset of
    passes; one item each where every sample is its own group."""
    if limit is None:
        return samples
    keep = set(list(dict.fromkeys(s.group for s in samples))[:limit])
    return [s for s in samples if s.group in keep]
