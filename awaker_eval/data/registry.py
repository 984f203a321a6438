"""``load_samples(cfg)``: the one data entry point of the pipeline; dispatches on kind / layout and
resolves where the files come from (local path, URL or pinned hub revision)."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import urllib.request
from collections.abc import Callable
from pathlib import Path

from awaker_eval.config.schema import BenchmarkConfig
from awaker_eval.data import mmbench, mme_realworld
from awaker_eval.data.errors import DataError
from awaker_eval.data.parquet_inplace import open_parquet_inplace
from awaker_eval.data.synthetic import JSON_NAME, ensure_synthetic_benchmark
from awaker_eval.data.tables import TableSource, open_table
from awaker_eval.types import Sample

log = logging.getLogger(__name__)
DEFAULT_CACHE = "~/.cache/awaker_eval/data"

# Default hub sources when ``cfg.source`` is unset: (repo, file pattern or None) per layout and language.
MME_HUB = {
    ("official_json", "en"): ("yifanzhang114/MME-RealWorld", "MME_RealWorld.json"),
    ("official_json", "cn"): ("yifanzhang114/MME-RealWorld", "MME_RealWorld_CN.json"),
    ("base64_json", "en"): ("yifanzhang114/MME-RealWorld-Base64", "MME-RealWorld/*.json"),
    ("base64_json", "cn"): ("yifanzhang114/MME-RealWorld-Base64", "MME-RealWorld-CN/*.json"),
    ("parquet", "en"): ("yifanzhang114/MME-RealWorld-Lmms-eval", None),
    ("parquet", "cn"): ("yifanzhang114/MME-RealWorld-CN-Lmms-eval", None),
}
# layout -> (repo, default revision, config per language, split names); both mirrors hold v1.0 only.
MMBENCH_HF = {
    "hf": ("lmms-lab/MMBench", None, {"en": "en", "cn": "cn"}, {"dev": "dev", "test": "test"}),  # hash unknown
    "hf_m4": ("HuggingFaceM4/MMBench", "215b79e126bea0777a489683f239edd0a6012a8a", {"en": None},
              {"dev": "validation", "test": "test"}),
}


def cache_root(cfg: BenchmarkConfig) -> Path:
    return Path(cfg.cache_dir or DEFAULT_CACHE).expanduser()


def _hf_cache(cfg: BenchmarkConfig) -> str | None:
    return str(cache_root(cfg) / "hf_datasets") if cfg.cache_dir else None


def _load_synthetic(cfg: BenchmarkConfig) -> list[Sample]:
    if cfg.language != "en":
        raise DataError("the embedded synthetic sample is English only (benchmark.language=en)")
    folder = ensure_synthetic_benchmark(cache_root(cfg), n=cfg.sample_size, seed=0)
    return mme_realworld.load_official_json(folder / JSON_NAME, folder, cfg.name, cfg.language)


def _official_json_path(cfg: BenchmarkConfig) -> Path:
    if cfg.source and Path(cfg.source).expanduser().exists():
        path = Path(cfg.source).expanduser()
        return path / (cfg.data_files or JSON_NAME) if path.is_dir() else path
    repo, default_file = MME_HUB[("official_json", cfg.language)]
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(cfg.source or repo, cfg.data_files or default_file, repo_type="dataset",
                                    revision=cfg.revision, cache_dir=_hf_cache(cfg)))
    except Exception as exc:
        raise DataError(f"cannot fetch {cfg.data_files or default_file} from {cfg.source or repo} "
                        f"(revision {cfg.revision}): {type(exc).__name__}: {exc}") from exc


def _load_mme_official(cfg: BenchmarkConfig) -> list[Sample]:
    if not cfg.image_root:
        raise DataError("layout official_json needs benchmark.image_root: the folder where the MME-RealWorld "
                        "image archives were extracted")
    return mme_realworld.load_official_json(_official_json_path(cfg), cfg.image_root, cfg.name, cfg.language)


def _load_mme_table(cfg: BenchmarkConfig) -> list[Sample]:
    if cfg.source:
        src = TableSource(cfg.source, cfg.revision, cfg.data_files, cache_dir=_hf_cache(cfg))
    elif (cfg.layout, cfg.language) in MME_HUB:
        repo, files = MME_HUB[(cfg.layout, cfg.language)]
        src = TableSource(repo, cfg.revision, cfg.data_files or files, cache_dir=_hf_cache(cfg))
    else:
        raise DataError(f"layout {cfg.layout!r} has no default download: set benchmark.source to the file")
    table = (open_parquet_inplace(src.source, src.revision, src.data_files, src.cache_dir)  # no arrow copy
             if cfg.layout == "parquet" else open_table(src))
    return mme_realworld.load_table(table, cfg.name, cfg.language, cfg.image_root, src.source)


def _load_mmbench(cfg: BenchmarkConfig) -> list[Sample]:
    name = mmbench.tsv_name(cfg.version, cfg.split, cfg.language)
    if cfg.layout == "tsv":
        source = _download(cfg.source or f"{mmbench.TSV_URL_BASE}{name}.tsv", cfg)
        _check_md5(source, mmbench.TSV_MD5[name])
        src = TableSource(source, cfg.revision, cfg.data_files, cache_dir=_hf_cache(cfg), suffix=".tsv")
    else:
        repo, revision, configs, splits = MMBENCH_HF[cfg.layout]
        if cfg.version != "v10" or cfg.language not in configs:
            raise DataError(f"{repo} mirrors MMBench v1.0 {sorted(configs)} only; use layout=tsv for {name}")
        src = TableSource(cfg.source or repo, cfg.revision or revision, cfg.data_files, configs[cfg.language],
                          splits[cfg.split], cache_dir=_hf_cache(cfg))
    return mmbench.load_table(open_table(src), cfg.name, cfg.language, cfg.split != "test", src.source)


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


LOADERS: dict[tuple[str, str], Callable[[BenchmarkConfig], list[Sample]]] = {
    ("mme_realworld", "synthetic"): _load_synthetic,
    ("mme_realworld", "official_json"): _load_mme_official,
    ("mme_realworld", "base64_json"): _load_mme_table,
    ("mme_realworld", "tsv"): _load_mme_table,
    ("mme_realworld", "parquet"): _load_mme_table,
    ("mmbench", "tsv"): _load_mmbench,
    ("mmbench", "hf"): _load_mmbench,
    ("mmbench", "hf_m4"): _load_mmbench,
}


def load_samples(cfg: BenchmarkConfig) -> list[Sample]:
    """All samples of the configured benchmark split (first ``cfg.limit`` units when set), images undecoded."""
    loader = LOADERS.get((cfg.kind, cfg.layout))
    if loader is None:
        valid = ", ".join(f"{k}/{layout}" for k, layout in LOADERS)
        raise DataError(f"unknown benchmark kind/layout {cfg.kind!r}/{cfg.layout!r}; valid: {valid}")
    if cfg.language not in ("en", "cn"):
        raise DataError(f"benchmark.language must be 'en' or 'cn', got {cfg.language!r}")
    return limited(loader(cfg), cfg.limit)


def limited(samples: list[Sample], limit: int | None) -> list[Sample]:
    """The first ``limit`` scoring units: items, or for MMBench whole questions (every circular pass of the
    first ``limit`` groups), so that a smoke run's CircularEval never scores a question on a subset of passes."""
    if limit is None:
        return samples
    if not samples or samples[0].extra.get("kind") != mmbench.KIND:
        return samples[:limit]
    keep = set(list(dict.fromkeys(s.group for s in samples))[:limit])
    return [s for s in samples if s.group in keep]
