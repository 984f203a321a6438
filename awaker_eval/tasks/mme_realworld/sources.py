"""MME-RealWorld's releases: the default source of each (variant, layout, language) and the variants."""

from __future__ import annotations

from awaker_eval.data.sources import Source

VARIANTS = ("full", "lite")
DEFAULT_SOURCES: dict[tuple[str, str, str], Source] = {
    ("full", "official_json", "en"): Source("yifanzhang114/MME-RealWorld", "MME_RealWorld.json"),
    ("full", "official_json", "cn"): Source("yifanzhang114/MME-RealWorld", "MME_RealWorld_CN.json"),
    ("full", "base64_json", "en"): Source("yifanzhang114/MME-RealWorld-Base64", "MME-RealWorld/*.json"),
    ("full", "base64_json", "cn"): Source("yifanzhang114/MME-RealWorld-Base64", "MME-RealWorld-CN/*.json"),
    ("full", "parquet", "en"): Source("yifanzhang114/MME-RealWorld-Lmms-eval"),
    ("full", "parquet", "cn"): Source("yifanzhang114/MME-RealWorld-CN-Lmms-eval"),
    ("lite", "parquet", "en"): Source("yifanzhang114/MME-RealWorld-lite-lmms-eval"),
    ("lite", "tsv", "en"): Source("yifanzhang114/MME-RealWorld-Base64", "mme_realworld_lite.tsv"),
}
WHY_NO_DEFAULT = {("full", "tsv"): "the VLMEvalKit MME-RealWorld TSVs are built locally from the Base64 release"}
