"""MMBench(-CN) v1.0 / v1.1 as a ``Benchmark``: CircularEval over every circular pass (spec §3, §4).

Everything MMBench knows lives in this folder: ``layouts.py`` (layout -> loader function, hub mirrors),
``loader.py`` (TSV rows -> ``Sample``, pinned TSVs), ``score.py`` (CircularEval), ``results.py`` (VLMEvalKit result
rows), ``submission.py`` (the test-server export) and ``published.py`` (its leaderboard tables; rows in
``benchmarks/``). Prompts and ``can_infer`` are VLMEvalKit's MCQ code, shared with ``tasks/mcq``
(``tasks/vlmevalkit_mcq/``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from awaker_eval.data.taxonomy import MMBENCH_L2_ABBREV, MME_TASKS, l2_abbreviation
from awaker_eval.tasks.base import OVERALL, Benchmark, Level, frame_scores, readable_key, scorable
from awaker_eval.tasks.mmbench import score as circular
from awaker_eval.tasks.mmbench import sources
from awaker_eval.tasks.mmbench.layouts import LAYOUTS
from awaker_eval.tasks.mmbench.published import TABLES
from awaker_eval.tasks.mmbench.render import render as render_scores
from awaker_eval.tasks.mmbench.results import read_predictions as read_prediction_file
from awaker_eval.tasks.mmbench.submission import main as submission_main
from awaker_eval.tasks.vlmevalkit_mcq import prompts
from awaker_eval.tasks.vlmevalkit_mcq.extract import EXTRACTOR_ALIASES, extract_can_infer

KIND = "mmbench"
L2_BY_ABBREV = {abbrev: full for full, abbrev in MMBENCH_L2_ABBREV.items()}


def _export_submission(bench: Benchmark, argv: list[str], known: Sequence[Benchmark]) -> int:
    return submission_main(argv, bench, known)


class MMBench(Benchmark):
    kind = KIND
    title = "MMBench"
    splits = ("dev", "test")
    versions = ("v10", "v11")
    layouts = ("tsv", "hf", "hf_m4")
    protocols = prompts.PROTOCOLS
    protocol_aliases = prompts.ALIASES
    extractors = EXTRACTOR_ALIASES
    default_extractor = "can_infer_2024"
    levels = (OVERALL, Level("l2_category", "Ability (L2)"), Level("category", "Ability (L3)"))
    cluster_meaning = "circular question"
    heatmap_by = "l2_category"
    unit_noun = "questions"
    headline = (("Overall (CircularEval)", "overall", "n_questions"),)
    score_names = {"mmbench": "en", "mmbench_cn": "cn"}
    export_submission = _export_submission  # a method: (argv, known) -> exit code
    version_columns = {"v11": "v1_1", "v10": "v1_0"}  # README headers MMBench_v1.1 / MMBench
    default_sources = sources.DEFAULT_SOURCES

    @property
    def pinned_md5(self) -> dict[str, str]:
        return sources.pinned_md5()

    def default_source(self, cfg, variant: str):
        return sources.tsv_source(cfg) if cfg.layout == "tsv" else super().default_source(cfg, variant)

    def chance_rate(self, units: pd.DataFrame) -> float:
        """CircularEval needs every one of a question's N rotations right: (1/N)^N (N options = N passes)."""
        rows = units["n_rows"].clip(lower=1).astype(float)
        return float(((1.0 / rows) ** rows).mean()) if len(rows) else float("nan")

    def shape_problem(self, predictions):
        mme = [p for p in predictions if p.task in MME_TASKS]
        if mme:
            return (f"{len(mme)} of {len(predictions)} predictions carry an MME-RealWorld task (e.g. {mme[0].id!r}: "
                    f"task {mme[0].task!r}); MMBench rows have circular groups and categories, not tasks")
        if not any(p.category or p.l2_category for p in predictions):
            return "no prediction has an MMBench category or L2 category"
        return None

    def load(self, cfg, warnings=None):
        return LAYOUTS[cfg.layout](self, cfg, self.warnings_for(cfg, warnings))

    def template_text(self, protocol: str) -> tuple[str, ...]:
        return prompts.TEMPLATE_TEXT[self.canonical_protocol(protocol)]

    def extract(self, raw_output, item, extractor, judge=None):
        return extract_can_infer(raw_output, item, self.resolve_extractor(extractor), judge)

    def units(self, predictions) -> pd.DataFrame:
        return circular.units(self._frame(predictions))

    def metrics(self, predictions) -> dict[str, Any]:
        """CircularEval; TEST (every answer hidden) gives ``{"answers_hidden": True, "overall": None, ...}``."""
        predictions = list(predictions)
        if predictions and not any(p.answer for p in predictions):
            return circular.hidden_metrics(predictions)
        return circular.metrics(self._frame(predictions))

    def score(self, predictions):
        predictions = list(predictions)
        if predictions and not any(p.answer for p in predictions):
            return circular.hidden_metrics(predictions), None
        return frame_scores(predictions, self._frame(predictions), circular.metrics, circular.units)

    @staticmethod
    def _frame(predictions) -> pd.DataFrame:
        return scorable(circular.row_frame(predictions), KIND)

    def level_labels(self, units: pd.DataFrame, level: str) -> pd.Series:
        if level == "l2_category":
            return units[level].map(lambda v: (l2_abbreviation(v) or v) if isinstance(v, str) else v)
        return units[level]

    def group_label(self, level: str, group: str) -> str:
        """An L2 abbreviation with its ability: ``Finegrained perception (instance-level) (FP-S)``."""
        if level == "l2_category":
            full = L2_BY_ABBREV.get(group)
            return f"{readable_key(full).capitalize()} ({group})" if full else readable_key(group)
        return super().group_label(level, group)

    def chance_level(self, predictions) -> float | None:
        """Not a simple ratio under CircularEval (a guess must hit every rotation): not reported."""
        return None

    def published_tables(self):
        return TABLES

    def leaderboard_notes(self, label: str, cfg, scores: dict[str, Any]) -> list[str]:
        if cfg.split == "test":
            return []
        return [f"{label}: MMBench {cfg.version} numbers are {cfg.split.upper()}-split CircularEval scored "
                "locally; published MMBench columns are TEST-server numbers (a different question set): "
                "not directly comparable."]

    def read_predictions(self, path: str | Path):
        return read_prediction_file(path)

    def render(self, name: str, metrics: dict[str, Any]) -> str:
        return render_scores(name, metrics)
