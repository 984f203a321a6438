"""MME-RealWorld's layouts -> loader functions: the embedded synthetic sample, the official JSON + image
folder, and the Base64 JSON / TSV / parquet tables (local, URL or pinned hub revision)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from awaker_eval.config.schema import BenchmarkConfig
from awaker_eval.data import json_stream
from awaker_eval.data.errors import DataError
from awaker_eval.data.fetch import cache_root, hf_cache, hub_file, is_local
from awaker_eval.data.parquet_inplace import open_parquet_inplace
from awaker_eval.data.sources import Source, resolve_source
from awaker_eval.data.tables import TableSource, open_table
from awaker_eval.data.warnings import DataWarnings
from awaker_eval.tasks.mme_realworld import loader as mme_realworld
from awaker_eval.tasks.mme_realworld.synthetic import JSON_NAME, ensure_synthetic_benchmark
from awaker_eval.tasks.base import Benchmark
from awaker_eval.types import Sample


def _load_synthetic(bench: Benchmark, cfg: BenchmarkConfig, warnings: DataWarnings) -> list[Sample]:
    if cfg.language != "en":
        raise DataError("the embedded synthetic sample is English only (benchmark.language=en)")
    folder = ensure_synthetic_benchmark(cache_root(cfg), n=cfg.sample_size, seed=0)
    return mme_realworld.load_official_json(folder / JSON_NAME, folder, cfg.name, cfg.language, warnings)


def _official_json_path(bench: Benchmark, cfg: BenchmarkConfig) -> Path:
    src = resolve_source(cfg, bench)
    if is_local(src.source):
        path = Path(src.source).expanduser()
        return path / (src.data_files or JSON_NAME) if path.is_dir() else path
    return hub_file(src, cfg)


def _load_mme_official(bench: Benchmark, cfg: BenchmarkConfig, warnings: DataWarnings) -> list[Sample]:
    if not cfg.image_root:
        raise DataError("layout official_json needs benchmark.image_root: the folder where the MME-RealWorld "
                        "image archives were extracted")
    return mme_realworld.load_official_json(_official_json_path(bench, cfg), cfg.image_root, cfg.name, cfg.language,
                                            warnings, cfg.allow_outside_paths)


def _json_array_files(src: Source, cfg: BenchmarkConfig) -> list[str]:
    """The Base64 JSON files: local ones as given, hub ones downloaded (resumable) at the pinned revision."""
    root = src.source
    if not is_local(root):
        from huggingface_hub import snapshot_download

        try:
            root = snapshot_download(src.source, repo_type="dataset", revision=src.revision,
                                     allow_patterns=src.data_files, cache_dir=hf_cache(cfg))
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


def _load_mme_table(bench: Benchmark, cfg: BenchmarkConfig, warnings: DataWarnings) -> list[Sample]:
    src = resolve_source(cfg, bench)
    if cfg.layout == "base64_json":  # multi-GB arrays: streamed, never one block (json_stream)
        ds = json_stream.open_json_arrays(_json_array_files(src, cfg), cache_root(cfg) / "json_arrays")
    else:
        where = src.source
        if cfg.layout == "tsv" and not is_local(src.source) and src.data_files:  # a TSV in a hub repo
            where = str(hub_file(src, cfg))
            src = Source(where)
        if cfg.layout == "parquet":  # read the (downloaded) shards in place: no second, arrow copy on disk
            ds = open_parquet_inplace(src.source, src.revision, src.data_files, hf_cache(cfg))
        else:
            ds = open_table(TableSource(src.source, src.revision, src.data_files, cache_dir=hf_cache(cfg)))
    return mme_realworld.load_table(ds, cfg.name, cfg.language, cfg.image_root, src.source, warnings,
                                    cfg.allow_outside_paths)


# layout -> loader(the benchmark object, its config, the warnings to count oddities in)
LAYOUTS: dict[str, Callable[[Benchmark, BenchmarkConfig, DataWarnings], list[Sample]]] = {
    "synthetic": _load_synthetic,
    "official_json": _load_mme_official,
    "base64_json": _load_mme_table,
    "tsv": _load_mme_table,
    "parquet": _load_mme_table,
}
