"""MME-RealWorld(-CN) as a ``Benchmark``: pooled Perception / Reasoning / Overall (spec §1, §2).

Everything MME-RealWorld knows lives in this folder: ``layouts.py`` (layout -> loader function), ``loader.py``
(official JSON / table rows -> ``Sample``), ``synthetic.py`` (the embedded demo sample), ``prompts.py``,
``extract.py`` (prefix rules), ``score.py`` (pooled metrics), ``results.py`` (official submission files and
VLMEvalKit result rows) and ``published.py`` (its leaderboard tables; rows in ``benchmarks/``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from awaker_eval.data.errors import DataError
from awaker_eval.tasks.base import OVERALL, Benchmark, Level, frame_scores, readable_key, scorable
from awaker_eval.tasks.mme_realworld import prompts, sources
from awaker_eval.tasks.mme_realworld import score as pooled
from awaker_eval.tasks.mme_realworld.extract import VARIANTS, extract_mme
from awaker_eval.tasks.mme_realworld.layouts import LAYOUTS
from awaker_eval.tasks.mme_realworld.loader import load_official_json
from awaker_eval.tasks.mme_realworld.published import TABLES
from awaker_eval.tasks.mme_realworld.render import render as render_scores
from awaker_eval.tasks.mme_realworld.results import read_predictions as read_prediction_file
from awaker_eval.tasks.mme_realworld.synthetic import JSON_NAME, ensure_synthetic_benchmark

KIND = "mme_realworld"
CHANCE = 0.2  # five options (A-E) per item
FULL_ITEMS = {("full", "en"): 23_609, ("lite", "en"): 1_919}  # (variant, language): items of the release


class MMERealWorld(Benchmark):
    kind = KIND
    title = "MME-RealWorld"
    splits = ("test",)  # one split per release (EN, CN, Lite: benchmark.variant / language pick it)
    layouts = ("synthetic", "official_json", "base64_json", "tsv", "parquet")
    protocols = prompts.PROTOCOLS
    protocol_aliases = prompts.ALIASES
    extractors = {name: name for name in VARIANTS}
    default_extractor = "official"
    levels = (OVERALL, Level("split", "Task"), Level("subtask", "Task / Subtask"), Level("category", "Fine category"))
    cluster_meaning = "image"
    heatmap_by = "subtask"
    unit_noun = "items"
    headline = (("Overall", "overall", "n"), ("Perception", "perception", "n_perception"),
                ("Reasoning", "reasoning", "n_reasoning"))
    score_names = {"mme_realworld": "en", "mme_realworld_cn": "cn"}
    default_sources = sources.DEFAULT_SOURCES

    def source_variant(self, cfg) -> str:
        if cfg.variant not in sources.VARIANTS:
            raise DataError(f"benchmark.variant={cfg.variant!r} is unknown: use one of {', '.join(sources.VARIANTS)}")
        return cfg.variant

    def release_label(self, cfg, variant: str) -> str:
        return f"{cfg.kind} ({'Lite, ' if variant == 'lite' else ''}{cfg.language})"

    def no_default_reason(self, cfg, variant: str) -> str:
        return sources.WHY_NO_DEFAULT.get((variant, cfg.layout), super().no_default_reason(cfg, variant))

    def chance_rate(self, units: pd.DataFrame) -> float:
        return CHANCE

    def shape_problem(self, predictions):
        mmb = [p for p in predictions if p.task is None and p.l2_category]
        if mmb:
            return (f"{len(mmb)} of {len(predictions)} predictions carry an MMBench L2 category and no task "
                    f"(e.g. {mmb[0].id!r}: {mmb[0].l2_category!r})")
        return None

    def load(self, cfg, warnings=None):
        return LAYOUTS[cfg.layout](self, cfg, self.warnings_for(cfg, warnings))

    def synthetic_samples(self, cache_dir, n, sizes, seed=0):
        """The demo's procedurally drawn items in the official JSON layout, image sides drawn from ``sizes``."""
        folder = ensure_synthetic_benchmark(cache_dir, n=n, seed=seed, image_size=(sizes, sizes))
        return load_official_json(folder / JSON_NAME, folder, "perf_synthetic", "en")

    def template_text(self, protocol: str) -> tuple[str, ...]:
        return prompts.TEMPLATE_TEXT[self.canonical_protocol(protocol)]

    def extract(self, raw_output, item, extractor, judge=None):
        return extract_mme(raw_output, item, self.resolve_extractor(extractor))

    def units(self, predictions) -> pd.DataFrame:
        return pooled.units(self._frame(predictions))

    def metrics(self, predictions) -> dict[str, Any]:
        return pooled.metrics(self._frame(predictions))

    def score(self, predictions):
        return frame_scores(predictions, self._frame(predictions), pooled.metrics, pooled.units)

    @staticmethod
    def _frame(predictions) -> pd.DataFrame:
        return scorable(pooled.item_frame(predictions), KIND)

    def level_labels(self, units: pd.DataFrame, level: str) -> pd.Series:
        if level == "subtask":
            return units["split"].astype(str) + "/" + units["subtask"].astype(str)
        return units[level]

    def group_label(self, level: str, group: str) -> str:
        """``Split/Subtask`` -> ``Subtask (Split)``; the official category key's repeated ``attribute`` dropped."""
        if level == "subtask" and "/" in group:
            split, sub = group.split("/", 1)
            return f"{readable_key(sub)} ({split})"
        if level == "category":
            parts = str(group).split("/")
            if len(parts) == 2 and parts[1] == "attribute" and parts[0].startswith("attribute"):
                group = parts[0]  # the official key repeats "attribute"
        return super().group_label(level, group)

    def published_tables(self):
        return TABLES

    def leaderboard_notes(self, label: str, cfg, scores: dict[str, Any]) -> list[str]:
        notes = []
        full = FULL_ITEMS.get((cfg.variant, cfg.language))
        n = scores.get("n")
        if full and n is not None and n != full:
            notes.append(f"{label}: scored {n:,} of the {full:,} items (a subset): not comparable to the full set.")
        if cfg.language == "cn":
            notes.append(f"{label}: the item set behind the published CN rows is unverified (5,917 vs 5,462 items).")
        return notes

    def read_predictions(self, path: str | Path):
        return read_prediction_file(path)

    def render(self, name: str, metrics: dict[str, Any]) -> str:
        return render_scores(name, metrics)
