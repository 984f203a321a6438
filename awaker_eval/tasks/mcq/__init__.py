"""Generic multiple-choice benchmarks in VLMEvalKit's TSV format (spec §8): ``benchmark=mmstar``,
``benchmark=ai2d``, or any MCQ TSV with ``benchmark=mcq benchmark.source=FILE.tsv benchmark.name=NAME``.

Prompts are VLMEvalKit's MCQ constructions, the same code as MMBench's (``tasks/vlmevalkit_mcq/prompts.py``);
extraction is VLMEvalKit's ``can_infer`` (``tasks/vlmevalkit_mcq/extract.py``); scoring is vanilla accuracy (``awaker_eval.tasks.vanilla``),
Overall plus per ``l2_category`` and per ``category`` where the file has them.
"""

from __future__ import annotations

from pathlib import Path

from awaker_eval.data.taxonomy import MME_TASKS
from awaker_eval.score.readers import TABLE_SUFFIXES
from awaker_eval.tasks.base import OVERALL, Benchmark, BenchmarkError, Level
from awaker_eval.tasks.mcq.loader import KIND, PINNED_MD5, load_mcq
from awaker_eval.tasks.mcq.results import read_result_table
from awaker_eval.tasks.mmbench.loader import CIRCULAR_BASE
from awaker_eval.tasks.vlmevalkit_mcq import prompts as vlmevalkit_prompts
from awaker_eval.tasks.vlmevalkit_mcq.extract import EXTRACTOR_ALIASES, extract_can_infer


class MCQBenchmark(Benchmark):
    kind = KIND
    title = "VLMEvalKit multiple-choice TSV"
    layouts = ("tsv",)
    protocols = {"vlmevalkit_default": vlmevalkit_prompts.build_default,
                 "vlmevalkit_qwen2vl": vlmevalkit_prompts.build_qwen2vl}
    protocol_aliases = {"official": "vlmevalkit_qwen2vl"}  # VLMEvalKit's choice for Qwen2-VL-based models
    extractors = EXTRACTOR_ALIASES
    default_extractor = "can_infer_2024"
    levels = (OVERALL, Level("l2_category", "L2 category"), Level("category", "Category"))
    cluster_meaning = "image"
    heatmap_by = "category"
    unit_noun = "items"
    score_names = {"mcq": "en", "mmstar": "en", "ai2d": "en"}
    pinned_md5 = PINNED_MD5

    def load(self, cfg, warnings=None):
        return load_mcq(cfg, self.warnings_for(cfg, warnings))

    def template_text(self, protocol: str) -> tuple[str, ...]:
        return vlmevalkit_prompts.TEMPLATE_TEXT[self.canonical_protocol(protocol)]

    def extract(self, raw_output, item, extractor, judge=None):
        return extract_can_infer(raw_output, item, self.resolve_extractor(extractor), judge)

    def shape_problem(self, predictions):
        mme = [p for p in predictions if p.task in MME_TASKS]
        if mme:
            return (f"{len(mme)} of {len(predictions)} predictions carry an MME-RealWorld task (e.g. {mme[0].id!r}: "
                    f"task {mme[0].task!r})")
        return None

    def check_predictions(self, predictions, source: str, known) -> None:
        """Also refuse MMBench's circular copies (rows ``i`` and ``i + k * 1,000,000``): CircularEval, not vanilla."""
        super().check_predictions(predictions, source, known)
        indices = {p.extra.get("index") for p in predictions if p.extra and isinstance(p.extra.get("index"), int)}
        copies = sorted(i for i in indices if i >= CIRCULAR_BASE and i % CIRCULAR_BASE in indices)
        if copies:
            raise BenchmarkError(f"{source}: rows {copies[:3]} are circular copies of rows "
                                 f"{[i % CIRCULAR_BASE for i in copies[:3]]} (MMBench): score it with --benchmark mmbench")

    def read_predictions(self, path: str | Path):
        path = Path(path)
        if path.suffix.lower() in TABLE_SUFFIXES:
            if not path.is_file():
                raise FileNotFoundError(f"{path}: no such prediction file")
            return read_result_table(path)
        if path.suffix.lower() != ".jsonl":
            raise BenchmarkError(f"{path}: expected predictions.jsonl or a VLMEvalKit result table {TABLE_SUFFIXES}")
        return super().read_predictions(path)
