"""The one ``Benchmark`` contract: everything the harness knows about a benchmark, in one object.

Core stages (preflight, pipeline, prompts, extraction, scoring, tables, intervals, plots, compare, report) hold
no benchmark names: they look the object up by ``BenchmarkConfig.kind`` (``awaker_eval.tasks.registry``) and
ask it. A benchmark is a subclass that fills in the class attributes and overrides what differs from the
defaults here, which implement a plain multiple-choice benchmark scored by vanilla accuracy:

==========================  ===================================================================================
what                        member
==========================  ===================================================================================
registry name               ``kind`` (the value of ``benchmark.kind`` in the config)
releases                    ``splits`` / ``versions``: the ``benchmark.split`` / ``benchmark.version`` values it
                            has (preflight refuses others; no versions: only the schema's default)
config defaults             ``conf/benchmark/<name>.yaml`` (one YAML per dataset/split); ``layouts`` it reads
data sources                ``default_sources`` ((variant, layout, language) -> ``Source``), ``default_source``,
                            ``source_variant``, ``pinned_md5`` (file name -> MD5 of URL-served releases)
data -> ``Sample``          ``load(cfg)`` (validates, resolves image refs, applies ``cfg.limit`` by unit)
prompt protocols            ``protocols`` (canonical name -> ``Sample -> str``), ``protocol_aliases``,
                            ``template_text(protocol)`` (the text a protocol is made of, for fingerprints)
answer extractors           ``extractors`` (accepted name -> canonical), ``default_extractor``,
                            ``extract(raw, item, extractor, judge)`` -> ``Extraction(letter, method, error)``
scoring                     ``units(predictions)`` (one row per scoring unit, ``UNIT_COLUMNS``) and
                            ``metrics(predictions)`` (JSON-ready, unrounded fractions): pooled, CircularEval
                            or vanilla, as the benchmark's official scorer computes them; ``score(predictions)``
                            gives both from one build of the item table (the run's tail asks it once)
aggregate levels            ``levels`` (``Level(key, label)``; ``overall`` first) and ``level_labels`` (the
                            group of each unit at a level): one definition for intervals, plots and compare;
                            ``group_label(level, group)`` (how plots and the HTML report name a group)
published rows (optional)   ``published_tables()`` -> its ``TableSpec``s, ``published_table(language)`` -> the
                            one a run belongs in, or None (then no leaderboard rows)
leaderboard row (optional)  ``version_columns`` (one run per release merged into our row),
                            ``leaderboard_notes`` (where our run differs from the published protocol)
submission (optional)       ``export_submission`` (``argv -> exit code``, the ``export-submission`` command for
                            one run directory; None: the benchmark has no server submission)
chance level (optional)     ``chance_level(predictions)``: expected accuracy of uniform guessing, or None
synthetic load (optional)   ``synthetic_samples(cache_dir, n, sizes, seed)``: generated items for ``perf``
foreign files               ``read_predictions(path)``, ``check_predictions(predictions, source)`` (refuses a
                            file that belongs to another benchmark), ``render(name, metrics)`` (score text)
==========================  ===================================================================================

Layout and naming: ``awaker_eval/tasks/`` holds the benchmark *code*, one folder per benchmark, the object in
its ``__init__.py`` and its stage modules beside it (``tasks/mme_realworld/``, ``tasks/mmbench/``: ``layouts.py``
layout -> loader function, ``loader.py``, ``prompts.py``, ``extract.py``, ``score.py``, ``results.py`` foreign
prediction files, ``render.py`` score text, ``published.py``, ``sources.py``; ``tasks/mcq/``); code two
benchmarks share sits in a folder that is no benchmark (``tasks/vlmevalkit_mcq/``: VLMEvalKit's MCQ prompts
and ``can_infer``, used by MMBench and MCQ). Stage helpers every benchmark uses stay in their stage package
(``data/`` options, images, tables, fetch, sources; ``score/`` common, readers). The top-level ``benchmarks/``
folder holds reference *data* (published leaderboard rows, taxonomies), read by the benchmarks' code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from awaker_eval.data.warnings import DataWarnings
from awaker_eval.score.consistency import check_predictions as check_consistency
from awaker_eval.score.readers import read_jsonl
from awaker_eval.tasks.vanilla import render_vanilla, vanilla_metrics, vanilla_units

if TYPE_CHECKING:  # type names only (data.sources and report.published import this module)
    import pandas as pd

    from awaker_eval.config.schema import BenchmarkConfig
    from awaker_eval.data.sources import Source
    from awaker_eval.extract.dispatch import Extraction
    from awaker_eval.report.published import TableSpec
    from awaker_eval.types import Prediction, Sample

PromptBuilder = Callable[["Sample"], str]
Judge = Callable[..., Any]


def readable_key(group: object) -> str:
    """A raw group key as a reader expects it: underscores as spaces."""
    return str(group).replace("_", " ")


def scorable(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    """``frame`` (a benchmark's per-row table), or the error that there is nothing to score."""
    if frame.empty:
        raise ValueError(f"no {kind} predictions to score")
    return frame


def has_verdicts(predictions: Sequence[Prediction]) -> bool:
    """Every prediction was judged right or wrong (not so with hidden answers: nothing to put an interval on)."""
    return all(p.correct is not None for p in predictions)


def frame_scores(predictions: Sequence[Prediction], frame: pd.DataFrame, metrics, units):
    """``(metrics(frame), units(frame) or None)``: ``Benchmark.score`` for benchmarks that build one per-row frame
    for both."""
    return metrics(frame), units(frame) if has_verdicts(predictions) else None


class BenchmarkError(ValueError):
    """A benchmark name, protocol, extractor or file that does not fit; the message names the valid ones."""


@dataclass(frozen=True)
class Level:
    """One aggregate level: ``key`` is the per-unit column and the ``scores.json`` key; ``label`` is for people."""

    key: str
    label: str


OVERALL = Level("overall", "Overall")


class Benchmark:
    """Base class of every benchmark (see the module docstring for the contract)."""

    kind: ClassVar[str] = ""
    title: ClassVar[str] = ""
    splits: ClassVar[tuple[str, ...]] = ()  # benchmark.split values; empty: a free label (a user's own file)
    versions: ClassVar[tuple[str, ...]] = ()  # benchmark.version values; empty: no versions (the default only)
    layouts: ClassVar[tuple[str, ...]] = ()
    protocols: ClassVar[Mapping[str, PromptBuilder]] = {}
    protocol_aliases: ClassVar[Mapping[str, str]] = {}
    extractors: ClassVar[Mapping[str, str]] = {}
    default_extractor: ClassVar[str] = ""
    levels: ClassVar[tuple[Level, ...]] = (OVERALL, Level("category", "Category"))
    cluster_meaning: ClassVar[str] = "image"  # what the bootstrap resamples (units sharing it are dependent)
    heatmap_by: ClassVar[str | None] = "category"  # Prediction field naming the expert-heatmap rows
    unit_noun: ClassVar[str] = "items"  # what ``n`` counts in tables and notes
    # The official aggregates a report opens with: (label, metric key, count key) of ``metrics()``.
    headline: ClassVar[tuple[tuple[str, str, str], ...]] = (("Overall", "overall", "n"),)
    score_names: ClassVar[Mapping[str, str]] = {}  # ``score --benchmark NAME`` -> language; default {kind: en}
    export_submission: ClassVar[Callable[..., Any] | None] = None  # optional: (self, argv, known) -> exit code
    # Published tables with one column per release (MMBench v1.1 / v1.0): benchmark.version -> column;
    # our row then merges one run per version and its Overall is their mean.
    version_columns: ClassVar[Mapping[str, str]] = {}

    # ---- data -------------------------------------------------------------------------------------------
    @staticmethod
    def warnings_for(cfg: BenchmarkConfig, warnings: DataWarnings | None) -> DataWarnings:
        """``warnings``, or a fresh collector honouring ``benchmark.strict`` when the caller passes none."""
        return warnings if warnings is not None else DataWarnings(strict=cfg.strict)

    def load(self, cfg: BenchmarkConfig, warnings: DataWarnings | None = None) -> list[Sample]:
        """All samples of the configured split, images undecoded (the caller applies ``cfg.limit``); the
        oddities upstream accepts are noted in ``warnings`` (``warnings.for_row(file, row, id)(kind, detail)``)."""
        raise NotImplementedError(f"{type(self).__name__}.load")

    # (variant, layout, language) -> the default source of a layout (``benchmark.source: null``); also tells
    # the source check which layouts a known hub repo holds.
    default_sources: ClassVar[Mapping[tuple[str, str, str], Source]] = {}
    # file name -> MD5 of the URL-served releases (checked on read, warning only; ``prepare`` verifies them)
    pinned_md5: ClassVar[Mapping[str, str]] = {}

    def source_variant(self, cfg: BenchmarkConfig) -> str:
        """The release variant that picks the default source (``full`` unless the benchmark has variants)."""
        return "full"

    def default_source(self, cfg: BenchmarkConfig, variant: str) -> Source | None:
        """The layout's default source for ``cfg``; None: there is none (the user sets ``benchmark.source``)."""
        return self.default_sources.get((variant, cfg.layout, cfg.language))

    def release_label(self, cfg: BenchmarkConfig, variant: str) -> str:
        """How the error for a missing default names the release."""
        return f"{cfg.kind} ({cfg.language})"

    def no_default_reason(self, cfg: BenchmarkConfig, variant: str) -> str:
        """Why a layout has no default source."""
        return "no published release in this layout is known"

    def check_config(self, cfg: BenchmarkConfig) -> None:
        """Fail before anything heavy loads when ``cfg`` cannot work for this benchmark."""
        if self.layouts and cfg.layout not in self.layouts:
            raise BenchmarkError(f"benchmark.layout={cfg.layout!r} is not a layout of {self.kind}: use one of "
                                 f"{', '.join(self.layouts)}")
        self.canonical_protocol(cfg.protocol)
        self.resolve_extractor(cfg.extractor)

    # ---- prompts ----------------------------------------------------------------------------------------
    def protocol_names(self) -> list[str]:
        return sorted([*self.protocols, *self.protocol_aliases])

    def canonical_protocol(self, protocol: str) -> str:
        name = self.protocol_aliases.get(protocol, protocol)
        if name not in self.protocols:
            raise BenchmarkError(f"unknown prompt protocol {protocol!r} for {self.kind}; valid: "
                                 f"{', '.join(self.protocol_names())}")
        return name

    def config_protocol(self, protocol: str) -> str:
        """The one name a config records for ``protocol``: ``official`` for every spelling of the official prompt
        (MME-RealWorld ``vlmevalkit``; MMBench ``vlmevalkit_qwen2vl``), else the canonical name. Applied once at
        config time (preflight), so aliases share run id, fingerprints and leaderboard notes."""
        name = self.canonical_protocol(protocol)
        official = self.protocol_aliases.get("official", "official" if "official" in self.protocols else None)
        return "official" if official is not None and name == official else name

    def build_prompt(self, sample: Sample, protocol: str) -> str:
        """The exact prompt text for ``sample`` under ``protocol``."""
        return self.protocols[self.canonical_protocol(protocol)](sample)

    def template_text(self, protocol: str) -> tuple[str, ...]:
        """The constant text a protocol is made of: part of the protocol fingerprint (edit it, new runs)."""
        return (self.canonical_protocol(protocol),)

    # ---- extraction -------------------------------------------------------------------------------------
    def resolve_extractor(self, extractor: str | None) -> str:
        if extractor is None:
            return self.default_extractor
        if extractor not in self.extractors:
            raise BenchmarkError(f"unknown {self.kind} extractor {extractor!r}; choose one of {sorted(self.extractors)}")
        return self.extractors[extractor]

    def extract(self, raw_output: str | None, item: Sample | Prediction, extractor: str | None,
                judge: Judge | None = None) -> "Extraction":
        """``Extraction(letter, method, error)``: method ``rule`` | ``judge`` | ``judge_failed`` | ``none``; a
        failed sample gives ``Extraction("", "none")``."""
        raise NotImplementedError(f"{type(self).__name__}.extract")

    # ---- scoring ----------------------------------------------------------------------------------------
    def units(self, predictions: list[Prediction]) -> pd.DataFrame:
        """One row per scoring unit (``awaker_eval.score.common.UNIT_COLUMNS``); default: one per prediction."""
        return vanilla_units(predictions, self.kind)

    def metrics(self, predictions: list[Prediction]) -> dict[str, Any]:
        """The official aggregates; default: vanilla accuracy, Overall plus one mapping per non-overall level."""
        return self._vanilla_metrics(predictions, self.units(predictions))

    def _vanilla_metrics(self, predictions: list[Prediction], units: pd.DataFrame) -> dict[str, Any]:
        keys = [lvl.key for lvl in self.levels if lvl is not OVERALL]
        return {**vanilla_metrics(predictions, units, keys), "chance_level": self.chance_level(predictions)}

    def score(self, predictions: list[Prediction]) -> tuple[dict[str, Any], pd.DataFrame | None]:
        """``(metrics, units)`` of one run, the item table built once for both (what the run's tail calls);
        ``units`` is None when a prediction has no verdict (hidden answers: nothing to put an interval on).
        Benchmarks whose ``metrics`` and ``units`` share a frame override this to build it once."""
        units = self.units(predictions) if has_verdicts(predictions) else None
        if units is not None and type(self).metrics is Benchmark.metrics:  # the default metrics are the units'
            return self._vanilla_metrics(predictions, units), units
        return self.metrics(predictions), units

    def level_labels(self, units: pd.DataFrame, level: str) -> pd.Series:
        """The group name of every unit at ``level`` (missing where the unit has no value there)."""
        return units[level]

    def group_label(self, level: str, group: str) -> str:
        """A group of ``level`` as a reader expects it (plots, HTML report); benchmarks add their own names."""
        if level == "overall":
            return "Overall"
        if level == "category":
            text = " / ".join(readable_key(part) for part in str(group).split("/"))
            return text[:1].upper() + text[1:]
        return readable_key(group)

    def level_label(self, key: str) -> str:
        return next((lvl.label for lvl in self.levels if lvl.key == key), key)

    def chance_rate(self, units: pd.DataFrame) -> float:
        """Expected accuracy of uniform guessing on these scoring units (plots' chance line); NaN: undefined."""
        return float("nan")

    def chance_level(self, predictions: list[Prediction]) -> float | None:
        """Expected accuracy of a uniform guess among each item's options (None when it is not defined)."""
        counts = [len(p.choices) for p in predictions]
        return sum(1 / n for n in counts) / len(counts) if counts and all(counts) else None

    # ---- synthetic workload (optional) ------------------------------------------------------------------
    def synthetic_samples(self, cache_dir: Path, n: int, sizes: tuple[int, int], seed: int = 0) -> list[Sample]:
        """``n`` generated items whose image sides are drawn from ``sizes`` (px), cached under ``cache_dir``:
        the workload ``awaker-eval perf`` measures. Benchmarks without one refuse."""
        raise BenchmarkError(f"benchmark {self.kind!r} has no synthetic workload for perf")

    # ---- published rows (optional) ----------------------------------------------------------------------
    def published_tables(self) -> tuple[TableSpec, ...]:
        """Every published leaderboard table of this benchmark (``awaker-eval table`` lists them); none by default."""
        return ()

    def published_table(self, language: str) -> TableSpec | None:
        """The published leaderboard our runs are placed in; None: no such table (the run still finishes)."""
        return next((spec for spec in self.published_tables() if spec.language == language), None)

    def leaderboard_notes(self, label: str, cfg: BenchmarkConfig, scores: dict[str, Any]) -> list[str]:
        """Notes under the table where our run differs from how the published rows were made."""
        return []

    # ---- foreign prediction files -----------------------------------------------------------------------
    def names(self) -> dict[str, str]:
        """``score --benchmark`` names of this benchmark -> language."""
        return dict(self.score_names) or {self.kind: "en"}

    def read_predictions(self, path: str | Path) -> list[Prediction]:
        """Predictions from our ``predictions.jsonl``; subclasses add the benchmark's foreign formats."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such prediction file")
        if path.suffix.lower() != ".jsonl":
            raise BenchmarkError(f"{path}: {self.kind} reads predictions.jsonl only")
        return read_jsonl(path)

    def name_marks(self) -> tuple[str, ...]:
        """Substrings of a benchmark name that say it is this benchmark (``mmbench_dev_en`` -> mmbench)."""
        return tuple(dict.fromkeys([self.kind, self.kind.replace("_", "-"), *self.names()]))

    def shape_problem(self, predictions: list[Prediction]) -> str | None:
        """Positive evidence in the records that they belong to another benchmark; None when they fit."""
        return None

    def check_predictions(self, predictions: list[Prediction], source: str, known: Sequence[Benchmark]) -> None:
        """Refuse predictions that are not one run of this benchmark: two model or protocol fingerprints, a
        benchmark name or shape of another benchmark (``known``: every registered one), or records of another
        benchmark kind."""
        kinds = sorted({str(p.extra.get("kind")) for p in predictions if p.extra and p.extra.get("kind")} - {self.kind})
        if kinds:
            raise BenchmarkError(f"{source}: predictions of benchmark kind {', '.join(kinds)}, not {self.kind}: "
                                 f"score them with that benchmark's --benchmark name")
        check_consistency(predictions, self, source, known)

    def render(self, name: str, metrics: dict[str, Any]) -> str:
        """Readable summary for ``awaker-eval score``."""
        return render_vanilla(name, metrics, [(lvl.key, lvl.label) for lvl in self.levels if lvl is not OVERALL])
