"""MMBench's layouts -> loader functions: the VLMEvalKit TSVs (pinned by MD5) and the two hub mirrors."""

from __future__ import annotations

from collections.abc import Callable

from awaker_eval.config.schema import BenchmarkConfig
from awaker_eval.data.errors import DataError
from awaker_eval.data.fetch import check_md5, download, hf_cache
from awaker_eval.data.sources import resolve_source
from awaker_eval.data.tables import TableSource, open_table
from awaker_eval.data.warnings import DataWarnings
from awaker_eval.tasks.mmbench import loader as mmbench
from awaker_eval.tasks.base import Benchmark
from awaker_eval.types import Sample

# MMBench hub mirrors: layout -> (config per language, split names); both hold v1.0 only.
MMBENCH_HF = {
    "hf": ({"en": "en", "cn": "cn"}, {"dev": "dev", "test": "test"}),
    "hf_m4": ({"en": None}, {"dev": "validation", "test": "test"}),
}


def _load_mmbench(bench: Benchmark, cfg: BenchmarkConfig, warnings: DataWarnings) -> list[Sample]:
    name = mmbench.tsv_name(cfg.version, cfg.split, cfg.language)
    src = resolve_source(cfg, bench)
    if cfg.layout == "tsv":
        source = download(src.source, cfg)
        check_md5(source, mmbench.TSV_MD5[name])
        table = TableSource(source, src.revision, src.data_files, cache_dir=hf_cache(cfg), suffix=".tsv")
    else:
        configs, splits = MMBENCH_HF[cfg.layout]
        if cfg.version != "v10" or cfg.language not in configs:
            raise DataError(f"{src.source} mirrors MMBench v1.0 {sorted(configs)} only; use layout=tsv for {name}")
        table = TableSource(src.source, src.revision, src.data_files, configs[cfg.language], splits[cfg.split],
                            cache_dir=hf_cache(cfg))
    return mmbench.load_table(open_table(table), cfg.name, cfg.language, cfg.split != "test", table.source, warnings,
                              pandas_na=cfg.layout == "tsv")


# layout -> loader(the benchmark object, its config, the warnings to count oddities in)
LAYOUTS: dict[str, Callable[[Benchmark, BenchmarkConfig, DataWarnings], list[Sample]]] = {
    "tsv": _load_mmbench,
    "hf": _load_mmbench,
    "hf_m4": _load_mmbench,
}
