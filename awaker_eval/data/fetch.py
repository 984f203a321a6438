"""Where benchmark files come from, shared by every benchmark's loaders: the cache folder, hub files and
URL downloads (fetched once), and the MD5 check of a pinned release."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import urllib.request
from pathlib import Path

from awaker_eval.config.schema import BenchmarkConfig
from awaker_eval.data.errors import DataError
from awaker_eval.data.sources import Source

log = logging.getLogger(__name__)
DEFAULT_CACHE = "~/.cache/awaker_eval/data"


def cache_root(cfg: BenchmarkConfig) -> Path:
    return Path(cfg.cache_dir or DEFAULT_CACHE).expanduser()


def hf_cache(cfg: BenchmarkConfig) -> str | None:
    return str(cache_root(cfg) / "hf_datasets") if cfg.cache_dir else None


def is_local(source: str) -> bool:
    return Path(source).expanduser().exists()


def hub_file(src: Source, cfg: BenchmarkConfig) -> Path:
    """One file of a hub dataset repo (downloaded once into the HF cache)."""
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(src.source, src.data_files, repo_type="dataset", revision=src.revision,
                                    cache_dir=hf_cache(cfg)))
    except Exception as exc:
        raise DataError(f"cannot fetch {src.data_files} from {src.source} (revision {src.revision}): "
                        f"{type(exc).__name__}: {exc}") from exc


def download(source: str, cfg: BenchmarkConfig) -> str:
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


def check_md5(path: str, expected: str) -> None:
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
