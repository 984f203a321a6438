"""Where a benchmark's files come from: each layout has its own default source, resolved in one function.

``benchmark.source: null`` means "the layout's default", so ``benchmark.layout=X`` alone picks X's release;
a source that belongs to another layout (a known hub repo, or local files of another format) is an error
naming both. Light module (no ``datasets`` import): the preflight calls ``resolve_source`` before anything loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from awaker_eval.config.schema import BenchmarkConfig
from awaker_eval.data.errors import DataError

MME_VARIANTS = ("full", "lite")


@dataclass(frozen=True)
class Source:
    """A resolved source: hub id, URL or local path, the file pattern(s) inside it and the revision."""

    source: str
    data_files: str | None = None
    revision: str | None = None  # None = the hub's main branch (the pin is unknown: docs/benchmarks.md "Pins")


# (kind, variant, layout, language) -> default source. MMBench's TSV default depends on version and split.
DEFAULTS: dict[tuple[str, str, str, str], Source] = {
    ("mme_realworld", "full", "official_json", "en"): Source("yifanzhang114/MME-RealWorld", "MME_RealWorld.json"),
    ("mme_realworld", "full", "official_json", "cn"): Source("yifanzhang114/MME-RealWorld", "MME_RealWorld_CN.json"),
    ("mme_realworld", "full", "base64_json", "en"): Source("yifanzhang114/MME-RealWorld-Base64",
                                                           "MME-RealWorld/*.json"),
    ("mme_realworld", "full", "base64_json", "cn"): Source("yifanzhang114/MME-RealWorld-Base64",
                                                           "MME-RealWorld-CN/*.json"),
    ("mme_realworld", "full", "parquet", "en"): Source("yifanzhang114/MME-RealWorld-Lmms-eval"),
    ("mme_realworld", "full", "parquet", "cn"): Source("yifanzhang114/MME-RealWorld-CN-Lmms-eval"),
    ("mme_realworld", "lite", "parquet", "en"): Source("yifanzhang114/MME-RealWorld-lite-lmms-eval"),
    ("mme_realworld", "lite", "tsv", "en"): Source("yifanzhang114/MME-RealWorld-Base64", "mme_realworld_lite.tsv"),
    ("mmbench", "full", "hf", "en"): Source("lmms-lab/MMBench"),
    ("mmbench", "full", "hf", "cn"): Source("lmms-lab/MMBench"),
    ("mmbench", "full", "hf_m4", "en"): Source("HuggingFaceM4/MMBench", None,
                                               "215b79e126bea0777a489683f239edd0a6012a8a"),
}
# The file suffixes each layout reads (for local files and URLs).
LAYOUT_SUFFIXES = {
    "official_json": (".json",), "base64_json": (".json",), "tsv": (".tsv", ".csv"), "parquet": (".parquet",),
    "hf": (".parquet",), "hf_m4": (".parquet",),
}
TABLE_SUFFIXES = (".json", ".jsonl", ".tsv", ".csv", ".parquet")
WHY_NO_DEFAULT = {
    ("mme_realworld", "full", "tsv"): "the VLMEvalKit MME-RealWorld TSVs are built locally from the Base64 release",
}


def _repo_layouts() -> dict[str, set[str]]:
    """Known hub repo (lower case) -> the layouts whose files it holds."""
    out: dict[str, set[str]] = {}
    for (_kind, _variant, layout, _lang), src in DEFAULTS.items():
        out.setdefault(src.source.lower(), set()).add(layout)
    return out


def _variant(cfg: BenchmarkConfig) -> str:
    if cfg.kind != "mme_realworld":
        return "full"
    if cfg.variant not in MME_VARIANTS:
        raise DataError(f"benchmark.variant={cfg.variant!r} is unknown: use one of {', '.join(MME_VARIANTS)}")
    return cfg.variant


def default_source(cfg: BenchmarkConfig) -> Source:
    """The default source of ``cfg``'s kind, variant, layout and language; a clear error when there is none."""
    variant = _variant(cfg)
    if cfg.kind == "mmbench" and cfg.layout == "tsv":
        from awaker_eval.tasks.mmbench import loader as mmbench

        return Source(f"{mmbench.TSV_URL_BASE}{mmbench.tsv_name(cfg.version, cfg.split, cfg.language)}.tsv")
    found = DEFAULTS.get((cfg.kind, variant, cfg.layout, cfg.language))
    if found is None:
        what = f"{cfg.kind} ({'Lite, ' if variant == 'lite' else ''}{cfg.language})"
        why = WHY_NO_DEFAULT.get((cfg.kind, variant, cfg.layout), "no published release in this layout is known")
        raise DataError(f"benchmark.layout={cfg.layout} has no default source for {what}: {why}; set "
                        "benchmark.source to the file or folder")
    return found


def resolve_source(cfg: BenchmarkConfig) -> Source:
    """``cfg.source`` (checked against the layout) or the layout's default; the revision and file pattern fall
    back to the default's when ``cfg`` leaves them unset."""
    if not cfg.source:
        found = default_source(cfg)
        return Source(found.source, cfg.data_files or found.data_files, cfg.revision or found.revision)
    check_source_matches_layout(cfg)
    revision = cfg.revision
    if revision is None:
        try:
            found = default_source(cfg)
            revision = found.revision if found.source.lower() == cfg.source.lower() else None
        except DataError:
            pass
    return Source(cfg.source, cfg.data_files, revision)


def check_source_matches_layout(cfg: BenchmarkConfig) -> None:
    """A known hub repo of another layout, or local files / a URL of another format, is an error naming both."""
    source, layout = cfg.source, cfg.layout
    if not source or layout == "synthetic":
        return
    holds = _repo_layouts().get(source.lower())
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


def check_benchmark_source(cfg: BenchmarkConfig) -> None:
    """Preflight: the layout has a default source or ``cfg.source`` matches it (known layouts only; an unknown
    layout is reported by the loader with the valid ones)."""
    if cfg.layout in LAYOUT_SUFFIXES:
        resolve_source(cfg)
