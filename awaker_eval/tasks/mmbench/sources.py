"""MMBench's releases: the hub mirrors' default sources (the VLMEvalKit TSV default depends on version and
split: ``tsv_source``)."""

from __future__ import annotations

from awaker_eval.config.schema import BenchmarkConfig
from awaker_eval.data.sources import Source
from awaker_eval.tasks.mmbench import loader

DEFAULT_SOURCES: dict[tuple[str, str, str], Source] = {
    ("full", "hf", "en"): Source("lmms-lab/MMBench"),
    ("full", "hf", "cn"): Source("lmms-lab/MMBench"),
    ("full", "hf_m4", "en"): Source("HuggingFaceM4/MMBench", None, "215b79e126bea0777a489683f239edd0a6012a8a"),
}


def pinned_md5() -> dict[str, str]:
    """File name -> MD5 of the pinned VLMEvalKit TSVs (the table lives beside the loader that checks it)."""
    return {f"{name}.tsv": md5 for name, md5 in loader.TSV_MD5.items()}


def tsv_source(cfg: BenchmarkConfig) -> Source:
    """The VLMEvalKit TSV of ``cfg``'s version, split and language."""
    return Source(f"{loader.TSV_URL_BASE}{loader.tsv_name(cfg.version, cfg.split, cfg.language)}.tsv")
