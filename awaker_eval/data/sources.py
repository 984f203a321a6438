"""Where a benchmark's files come from: each layout has its own default source (declared by the benchmark
object: ``default_sources`` / ``default_source``), resolved in one function.

``benchmark.source: null`` means "the layout's default", so ``benchmark.layout=X`` alone picks X's release;
a source that belongs to another layout (a known hub repo, or local files of another format) is an error
naming both. Light module (no ``datasets`` import): the preflight calls ``resolve_source`` before anything loads.
The benchmark object (and, for the preflight, the hub repos of every registered benchmark) is handed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from awaker_eval.config.schema import BenchmarkConfig
from awaker_eval.data.errors import DataError

if TYPE_CHECKING:  # an argument's type only: the benchmark object is handed in
    from awaker_eval.tasks.base import Benchmark

RepoLayouts = Mapping[str, set[str]]  # known hub repo (lower case) -> the layouts whose files it holds

@dataclass(frozen=True)
class Source:
    """A resolved source: hub id, URL or local path, the file pattern(s) inside it and the revision."""

    source: str
    data_files: str | None = None
    revision: str | None = None  # None = the hub's main branch (the pin is unknown: docs/benchmarks.md "Pins")


# The file suffixes each layout reads (for local files and URLs).
LAYOUT_SUFFIXES = {
    "official_json": (".json",), "base64_json": (".json",), "tsv": (".tsv", ".csv"), "parquet": (".parquet",),
    "hf": (".parquet",), "hf_m4": (".parquet",),
}
TABLE_SUFFIXES = (".json", ".jsonl", ".tsv", ".csv", ".parquet")
# Names ending in these are data files, never hub ids (a dataset repo is ``owner/name``).
FILE_SUFFIXES = (*TABLE_SUFFIXES, ".xlsx")


def names_a_file(source: str) -> bool:
    """Whether ``source`` can only mean a local file (``MMStar.tsv``): a URL aside, a name ending in a data file's
    suffix is no hub id. Why: asked of the hub, such a name is retried for ~27 s before it fails."""
    return "://" not in source and source.lower().endswith(FILE_SUFFIXES)


def repo_layouts(benchmarks: Iterable[Benchmark]) -> dict[str, set[str]]:
    """Known hub repo (lower case) -> the layouts whose files it holds, over ``benchmarks`` (the entry point
    passes every registered one, so a repo of another benchmark is recognised too)."""
    out: dict[str, set[str]] = {}
    for bench in benchmarks:
        for (_variant, layout, _lang), src in bench.default_sources.items():
            out.setdefault(src.source.lower(), set()).add(layout)
    return out


def default_source(cfg: BenchmarkConfig, bench: Benchmark) -> Source:
    """The default source of ``cfg``'s variant, layout and language, as ``bench`` (the object of ``cfg.kind``)
    declares it; a clear error when there is none."""
    variant = bench.source_variant(cfg)
    found = bench.default_source(cfg, variant)
    if found is None:
        raise DataError(f"benchmark.layout={cfg.layout} has no default source for {bench.release_label(cfg, variant)}: "
                        f"{bench.no_default_reason(cfg, variant)}; set benchmark.source to the file or folder")
    return found


def resolve_source(cfg: BenchmarkConfig, bench: Benchmark, known: RepoLayouts | None = None) -> Source:
    """``cfg.source`` (checked against the layout and the ``known`` hub repos, by default ``bench``'s own) or the
    layout's default; the revision and file pattern fall back to the default's when ``cfg`` leaves them unset."""
    if not cfg.source:
        found = default_source(cfg, bench)
        return Source(found.source, cfg.data_files or found.data_files, cfg.revision or found.revision)
    check_source_matches_layout(cfg, repo_layouts([bench]) if known is None else known)
    revision = cfg.revision
    if revision is None:
        try:
            found = default_source(cfg, bench)
            revision = found.revision if found.source.lower() == cfg.source.lower() else None
        except DataError:
            pass
    return Source(cfg.source, cfg.data_files, revision)


def check_source_matches_layout(cfg: BenchmarkConfig, known: RepoLayouts) -> None:
    """A ``known`` hub repo of another layout, or local files / a URL of another format, is an error naming
    both."""
    source, layout = cfg.source, cfg.layout
    if not source or layout == "synthetic":
        return
    holds = known.get(source.lower())
    if holds is not None and layout not in holds:
        raise DataError(f"benchmark.source={source} holds the {'/'.join(sorted(holds))} layout, not "
                        f"benchmark.layout={layout}: set the matching layout, or source=null for {layout}'s "
                        "default")
    expected = LAYOUT_SUFFIXES.get(layout)
    if expected is None:
        return
    found = _suffixes(source, cfg.data_files)
    if found and not found & set(expected):
        raise DataError(f"benchmark.source={source} holds {'/'.join(sorted(found))} files, but "
                        f"benchmark.layout={layout} reads {'/'.join(expected)}: set the layout that matches the "
                        "files")


def _suffixes(source: str, data_files: object) -> set[str]:
    """Table-file suffixes of a local file / folder (top two levels, or ``data_files``) or of a URL; empty
    for hub ids and for mismatches that cannot be told (the loader reports those)."""
    if source.startswith(("http://", "https://")):
        suffix = Path(source.split("?")[0]).suffix.lower()
        return {suffix} if suffix in TABLE_SUFFIXES else set()
    path = Path(source).expanduser()
    if path.is_file():
        return {path.suffix.lower()} if path.suffix.lower() in TABLE_SUFFIXES else set()
    if not path.is_dir():
        return set()
    patterns = [data_files] if isinstance(data_files, str) else list(data_files or ["*", "*/*"])
    return {p.suffix.lower() for pat in patterns for p in path.glob(str(pat)) if p.suffix.lower() in TABLE_SUFFIXES}


def check_benchmark_source(cfg: BenchmarkConfig, bench: Benchmark, known: RepoLayouts) -> None:
    """Preflight: the layout has a default source or ``cfg.source`` matches it, ``known`` holding the hub repos
    of every registered benchmark (known layouts only; an unknown layout is reported by the loader with the
    valid ones)."""
    if cfg.layout in LAYOUT_SUFFIXES:
        resolve_source(cfg, bench, known)
