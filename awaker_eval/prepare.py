"""``awaker-eval prepare [hydra overrides]``: fetch and verify everything a run needs, so that the run itself
works offline (``HF_HUB_OFFLINE=1``) and never finds a full disk or a corrupt download hours in.

The same overrides as ``awaker-eval run`` pick the benchmark and model. Steps: plan the artifacts (dataset files at
their pinned revision, the base model files, the checkpoint), ask the hub for their sizes and print the disk they
need beside the free space (refusing when it does not fit), download them into the caches the run reads (hub
cache, ``<benchmark.cache_dir>/downloads``) with progress bars, verify them (MD5 where one is published: the
VLMEvalKit TSVs; sha256 of every hub LFS file against the hub's metadata), then load the benchmark once as the
run will. A bad override or a failed check is one line and exit 2.
"""

from __future__ import annotations

import fnmatch
import hashlib
import shutil
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from awaker_eval.config.schema import RunConfig
from awaker_eval.data.errors import DataError
from awaker_eval.data.fetch import cache_root, hf_cache
from awaker_eval.data.registry import load_samples
from awaker_eval.data.sources import resolve_source
from awaker_eval.models.awaker.release import BASE_FILES, RELEASED_FILE, full_revision
from awaker_eval.models.loading import CheckpointNotFound, looks_like_local_path
from awaker_eval.overrides import compose_run_config
from awaker_eval.preflight import ConfigError, preflight
from awaker_eval.redact import redact_text
from awaker_eval.tasks.base import Benchmark
from awaker_eval.tasks.registry import get_benchmark, registered

GB = 1e9
PARQUET = ["*.parquet", "**/*.parquet"]  # what the in-place parquet reader fetches


def published_md5() -> dict[str, str]:
    """Published MD5s of the URL-served releases, by file name, as every registered benchmark pins them."""
    return {name: md5 for kind in registered() for name, md5 in get_benchmark(kind).pinned_md5.items()}


class PrepareError(Exception):
    """A check failed: one line for the user, exit 2."""


@dataclass(frozen=True)
class Artifact:
    """One thing to fetch: hub files (``patterns`` or one ``filename``) or a URL (``url`` -> ``target``)."""

    label: str
    repo: str | None = None
    repo_type: str = "model"
    revision: str | None = None
    patterns: tuple[str, ...] | None = None  # None with no filename: the whole repo
    filename: str | None = None
    cache_dir: str | None = None
    url: str | None = None
    target: Path | None = None
    md5: str | None = None
    arrow_copy: bool = False  # the run's first load converts these files into a ``datasets`` arrow cache

    def describe(self) -> str:
        what = self.url or f"{self.repo} @ {self.revision or 'main'}"
        files = self.filename or (", ".join(self.patterns) if self.patterns else "all files" if self.repo else "")
        return f"{self.label:<11} {what}" + (f"  [{files}]" if files else "")


# -- plan -------------------------------------------------------------------------------------------------------
def dataset_artifacts(cfg: RunConfig, bench: Benchmark) -> list[Artifact]:
    """The dataset files of the run: the layout's default (or the given) hub repo or URL, as the loader of
    ``bench`` (the benchmark object) reads it."""
    b = cfg.benchmark
    if b.layout == "synthetic" or (b.source and looks_like_local_path(b.source)):
        return []  # built locally, or local files (preflight checked they exist): nothing to fetch
    try:
        src = resolve_source(b, bench)
    except DataError:
        return []  # no published default: the user provides the files
    if src.source.startswith(("http://", "https://")):
        name = src.source.rstrip("/").split("/")[-1].split("?")[0]
        target = cache_root(b) / "downloads" / name  # = fetch.download
        return [Artifact("dataset", url=src.source, target=target, md5=published_md5().get(name), arrow_copy=True)]
    pattern = src.data_files
    patterns = tuple([pattern] if isinstance(pattern, str) else pattern) if pattern else (
        tuple(PARQUET) if b.layout == "parquet" else None)
    return [Artifact("dataset", src.source, "dataset", src.revision, patterns, cache_dir=hf_cache(b),
                     arrow_copy=b.layout != "parquet")]


def model_artifacts(cfg: RunConfig) -> list[Artifact]:
    m = cfg.model
    if m.kind == "qwen2_vl" and m.path and not looks_like_local_path(m.path):
        return [Artifact("model", m.path, "model", m.revision)]
    if m.kind != "awaker2_5_vl":
        return []  # tiny models are built locally; an API model has nothing to fetch
    out = []
    if m.path and not looks_like_local_path(m.path):
        out.append(Artifact("base model", m.path, "model", full_revision(m.path, m.revision), tuple(BASE_FILES)))
    if m.checkpoint and not looks_like_local_path(m.checkpoint):
        out.append(Artifact("checkpoint", m.checkpoint, "model", full_revision(m.checkpoint, m.checkpoint_revision),
                            filename=RELEASED_FILE))
    return out


# -- sizes --------------------------------------------------------------------------------------------------
def hub_files(art: Artifact) -> list[Any]:
    """The hub's file entries (name, size, lfs sha256) an artifact covers."""
    from huggingface_hub import HfApi

    info = HfApi().repo_info(art.repo, repo_type=art.repo_type, revision=art.revision, files_metadata=True)
    entries = list(info.siblings or [])
    if art.filename:
        return [s for s in entries if s.rfilename == art.filename]
    if art.patterns:
        return [s for s in entries if any(fnmatch.fnmatch(s.rfilename, p) for p in art.patterns)]
    return entries


def url_size(url: str) -> int | None:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=30) as r:
            length = r.headers.get("Content-Length")
            return int(length) if length else None
    except (OSError, ValueError):
        return None


def cached_bytes(art: Artifact, entries: list[Any]) -> int:
    """Bytes of ``entries`` already in the hub cache (or of the URL's finished download)."""
    if art.url:
        return art.target.stat().st_size if art.target.is_file() else 0
    from huggingface_hub import try_to_load_from_cache

    done = 0
    for e in entries:
        hit = try_to_load_from_cache(art.repo, e.rfilename, cache_dir=art.cache_dir, revision=art.revision,
                                     repo_type=art.repo_type)
        done += int(e.size or 0) if isinstance(hit, str) else 0
    return done


@dataclass
class Sized:
    art: Artifact
    size: int | None  # None: the hub (or URL) could not tell
    cached: int
    entries: list[Any]


def estimate(arts: list[Artifact]) -> list[Sized]:
    rows = []
    for art in arts:
        entries: list[Any] = []
        if art.url:
            size = art.target.stat().st_size if art.target.is_file() else url_size(art.url)
        else:
            try:
                entries = hub_files(art)
                size = sum(int(e.size or 0) for e in entries)
            except Exception:  # offline or unknown revision: the download below reports the real problem
                size = None
        rows.append(Sized(art, size, cached_bytes(art, entries), entries))
    return rows


def free_bytes(path: Path) -> int:
    path = path.expanduser()
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def hub_cache_dir(art: Artifact) -> Path:
    from huggingface_hub import constants

    return Path(art.cache_dir or constants.HF_HUB_CACHE)


# -- fetch and verify -------------------------------------------------------------------------------------
def download_url(url: str, target: Path) -> None:
    """Into ``target`` with a progress bar, atomically (a partial file never looks finished)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, tmp.open("wb") as out:
            length = response.headers.get("Content-Length")
            with tqdm(total=int(length) if length else None, unit="B", unit_scale=True, desc=target.name) as bar:
                for block in iter(lambda: response.read(1 << 22), b""):
                    out.write(block)
                    bar.update(len(block))
        tmp.replace(target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise PrepareError(f"cannot download {url}: {exc}") from exc


def file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(art: Artifact, entries: list[Any]) -> Path:
    """Download (or find cached) and verify one artifact; returns its local file or folder."""
    if art.url:
        if not art.target.is_file():
            download_url(art.url, art.target)
        if art.md5:
            actual = file_digest(art.target, "md5")
            if actual != art.md5:  # set aside, so that a run never picks it up as the pinned release
                aside = art.target.with_name(art.target.name + ".md5-mismatch")
                art.target.replace(aside)
                raise PrepareError(f"{art.target}: MD5 {actual} does not match the published {art.md5} (corrupt "
                                   f"or changed upstream); moved to {aside}: rerun prepare to fetch it again, or "
                                   f"pass benchmark.source={aside} to use it anyway")
        return art.target
    from huggingface_hub import hf_hub_download, snapshot_download

    try:
        if art.filename:
            local = Path(hf_hub_download(art.repo, art.filename, repo_type=art.repo_type, revision=art.revision,
                                         cache_dir=art.cache_dir))
            root = local.parent
        else:
            root = local = Path(snapshot_download(art.repo, repo_type=art.repo_type, revision=art.revision,
                                                  allow_patterns=list(art.patterns) if art.patterns else None,
                                                  cache_dir=art.cache_dir))
    except Exception as exc:  # network, auth, unknown revision
        files = art.filename or ", ".join(art.patterns or ("all files",))
        raise PrepareError(f"cannot fetch the {art.label} {art.repo} @ {art.revision or 'main'} [{files}]: "
                           f"{type(exc).__name__}: {' '.join(str(exc).split())}") from exc
    for entry in entries:
        sha = getattr(getattr(entry, "lfs", None), "sha256", None)
        path = root / entry.rfilename
        if sha and path.is_file():
            actual = file_digest(path, "sha256")
            if actual != sha:
                raise PrepareError(f"{path}: sha256 {actual} does not match the hub's {sha} for {art.repo} "
                                   f"{entry.rfilename} (corrupt download: delete it and rerun prepare)")
    return local


# -- command ----------------------------------------------------------------------------------------------
def compose(overrides: list[str]) -> RunConfig:
    """The RunConfig ``awaker-eval run`` would build from the same overrides, checked like a run's command line
    (a misspelt key, a bad value or an unknown option is one ``OverrideError`` line)."""
    return compose_run_config(overrides, "prepare")


def prepare(cfg: RunConfig, out=None) -> list[Path]:
    """Plan, size, fetch and verify everything ``cfg`` needs; returns the local paths."""
    out = out or sys.stdout
    bench = preflight(cfg)  # the benchmark object, resolved once
    arts = dataset_artifacts(cfg, bench) + model_artifacts(cfg)
    rows = estimate(arts)
    print(f"prepare: benchmark {cfg.benchmark.name} ({cfg.benchmark.layout}), model {cfg.model.name}", file=out)
    for r in rows:
        print(f"  {r.art.describe()}  {'size unknown' if r.size is None else f'{r.size / GB:.2f} GB'}", file=out)
    copies = sum(r.size or 0 for r in rows if r.art.arrow_copy)  # an upper bound: arrow is near the file size
    if copies:
        print(f"  arrow cache  written by datasets on the first load of this layout  ~{copies / GB:.2f} GB", file=out)
    total = sum(r.size or 0 for r in rows) + copies
    missing = sum(max(0, (r.size or 0) - r.cached) for r in rows) + copies
    unknown = any(r.size is None for r in rows)
    places = {(r.art.target.parent if r.art.url else hub_cache_dir(r.art)) for r in rows}
    free = min((free_bytes(p) for p in places), default=None)
    print(f"disk needed: {total / GB:.2f} GB{' + unknown sizes (hub unreachable)' if unknown else ''}, "
          f"{(total - missing) / GB:.2f} GB of it already downloaded; free: "
          f"{'n/a' if free is None else f'{free / GB:.2f} GB'}", file=out)
    if free is not None and missing > free:
        raise PrepareError(f"not enough disk: {missing / GB:.2f} GB still to download, {free / GB:.2f} GB free "
                           f"(set HF_HOME / benchmark.cache_dir to a larger disk)")
    paths = [fetch(r.art, r.entries) for r in rows]
    samples = load_samples(bench, cfg.benchmark)  # the benchmark loads as the run will load it
    print(f"ready: {len(samples)} samples load; run offline with HF_HUB_OFFLINE=1 and the same overrides", file=out)
    return paths


USAGE = "usage: awaker-eval prepare [hydra overrides], e.g. benchmark=mmbench model=qwen2_vl model.path=HUB_ID"


def main(argv: list[str]) -> int:
    if any(arg in ("-h", "--help") for arg in argv):
        print(USAGE + "\n\n" + __doc__.strip())
        return 0
    try:
        prepare(compose(list(argv)))
    except (PrepareError, ConfigError, DataError, CheckpointNotFound) as exc:
        print(f"error: {redact_text(' '.join(str(exc).split()))}", file=sys.stderr)
        return 2
    return 0
