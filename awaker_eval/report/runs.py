"""Reading finished run directories (``config.yaml``, ``scores.json``, ``run.json``, ``predictions.jsonl``).

A path given to ``table`` / ``compare`` / ``plot`` / ``report`` may be one run directory or any directory above
runs (a Hydra multirun sweep, a results root): runs are found recursively by their ``scores.json``.

``load_run`` is the one place these commands trust a run: it refuses predictions that are not one run of the
configured benchmark (``score.consistency.check_predictions``: one model and one protocol fingerprint, the right
benchmark) and re-scores the predictions; when ``scores.json`` disagrees (hand-edited, stale), the recomputed
numbers replace it (its stored intervals are dropped and recomputed) and a warning names the file.

A ``Run`` builds its item table (``units``) and its intervals (``intervals``: one bootstrap for every group the
report and the plots show, reusing the stored ``ci`` where it was made with the same resamples) at most once;
the pipeline hands over the ones it has just computed (``Scored``), so the run's tail computes each once.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Mapping

import pandas as pd

from awaker_eval.config.schema import BenchmarkConfig
from awaker_eval.engine.store import MERGED_FILE
from awaker_eval.report.intervals import IntervalTable, run_intervals
from awaker_eval.rundir import CONFIG_FILE, read_config
from awaker_eval.score import score_units
from awaker_eval.score.consistency import disagreeing_keys, recompute_scored
from awaker_eval.score.readers import read_jsonl
from awaker_eval.tasks.base import BenchmarkError
from awaker_eval.types import Prediction

if TYPE_CHECKING:  # the entry point resolves the benchmarks and hands them in
    from awaker_eval.tasks.base import Benchmark

SCORES_FILE = "scores.json"
_BENCH_FIELDS = {f.name for f in dataclasses.fields(BenchmarkConfig)}


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc


def benchmark_config(benchmark: BenchmarkConfig | dict) -> BenchmarkConfig:
    """A BenchmarkConfig from itself or from a plain dict of its fields (config.yaml, ``scores.json``)."""
    if isinstance(benchmark, BenchmarkConfig):
        return benchmark
    return BenchmarkConfig(**{k: v for k, v in dict(benchmark).items() if k in _BENCH_FIELDS})


@dataclass(frozen=True)
class Scored:
    """What the pipeline computed from a run's predictions, handed to the report instead of computed again:
    the ``scores`` it wrote (with ``ci``), the item table and the per-group intervals (None: answers hidden)."""

    scores: dict
    units: pd.DataFrame | None
    intervals: IntervalTable | None


@dataclass
class Run:
    """One run directory with its resolved config, scores and (lazily) predictions and per-unit table."""

    path: Path
    config: dict
    scores: dict
    meta: dict
    bench: Benchmark  # the benchmark object of ``benchmark.kind``, resolved by the caller of ``load_run``
    known: tuple[Benchmark, ...] = field(default=(), repr=False)  # every registered benchmark (the checks)
    _predictions: list[Prediction] | None = field(default=None, repr=False)
    _units: pd.DataFrame | None = field(default=None, repr=False)
    _intervals: IntervalTable | None = field(default=None, repr=False)
    _scores_ci: dict | None = field(default=None, repr=False)
    warnings: list[str] = field(default_factory=list)  # what load_run found wrong and corrected (for reports)

    @property
    def benchmark(self) -> BenchmarkConfig:
        return benchmark_config(self.config.get("benchmark") or {})

    @property
    def model(self) -> dict:
        return self.config.get("model") or {}

    @property
    def kind(self) -> str:
        return self.benchmark.kind

    @property
    def label(self) -> str:
        """``run.json`` label, else the model name, plus the adapter's or checkpoint's file name when one is set."""
        if self.meta.get("label"):
            return str(self.meta["label"])
        name = str(self.model.get("name") or self.path.name)
        if self.model.get("adapter"):  # a fine-tune: named by its PEFT adapter folder
            return f"{name}+{Path(str(self.model['adapter'])).name}"
        checkpoint = self.model.get("checkpoint")
        return f"{name}@{Path(str(checkpoint)).name}" if checkpoint else name

    @property
    def scored(self) -> bool:
        """False for runs without ground truth (MMBench TEST): nothing to score, plot or compare."""
        overall = self.scores.get("overall")
        return isinstance(overall, (int, float)) and not isinstance(overall, bool)

    def predictions(self) -> list[Prediction]:
        if self._predictions is None:
            path = self.path / MERGED_FILE
            if not path.exists():
                raise FileNotFoundError(f"{path}: no predictions file in this run directory")
            self._predictions = read_jsonl(path)  # the one strict reader: a bad line is an error, never a skip
        return self._predictions

    def units(self) -> pd.DataFrame:
        """The per-unit table (``awaker_eval.score.score_units``) of this run's predictions, built once."""
        if self._units is None:
            self._units = score_units(self.bench, self.predictions())
        return self._units

    def intervals(self, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05) -> IntervalTable:
        """Point + interval of every group (``report.intervals.run_intervals``), computed once per settings."""
        key = (int(n_boot), int(seed), float(alpha))
        if self._intervals is None or self._intervals.key != key:
            self._scores_ci, self._intervals = run_intervals(self.scores, self.units(), self.bench, n_boot=n_boot,
                                                             seed=seed, alpha=alpha)
        return self._intervals

    def scores_with_ci(self, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05) -> dict:
        """``scores`` as stored when it carries intervals, else intervals computed from the predictions."""
        if "ci" in self.scores or not self.scored or not (self._predictions is not None
                                                          or (self.path / MERGED_FILE).exists()):
            return self.scores
        self.intervals(n_boot=n_boot, seed=seed, alpha=alpha)
        return self._scores_ci


def unique_labels(runs: list[Run], shared: Callable[[Run], str] = lambda run: "") -> list[str]:
    """One label per run; runs whose ``(label, shared(run))`` collide get their directory name appended.

    ``shared`` lets runs that belong in one row keep one label (``table``: MMBench v1.0 and v1.1 of a model).
    """
    keys = [(run.label, shared(run)) for run in runs]
    seen = Counter(keys)
    return [f"{run.label} ({run.path.name})" if seen[key] > 1 else run.label for run, key in zip(runs, keys)]


def load_run(path: str | Path, benchmarks: Mapping[str, Benchmark], predictions: list[Prediction] | None = None,
             scored: Scored | None = None) -> Run:
    """One run directory; a clear error naming the directory when a required file is missing. ``benchmarks``:
    every registered benchmark by kind (``tasks.registry.catalogue()``, resolved once by the entry point).

    ``predictions`` already in memory (the pipeline just wrote them) spare re-reading predictions.jsonl;
    ``scored`` (what the pipeline computed from exactly those predictions) spares scoring them again."""
    path = Path(path)
    scores_path = path / SCORES_FILE
    if not scores_path.exists():
        raise FileNotFoundError(f"{path}: not a run directory (no {SCORES_FILE})")
    config = read_config(path)
    if config is None:
        raise FileNotFoundError(f"{path}: run directory without {CONFIG_FILE}")
    if not isinstance(config, dict) or "benchmark" not in config:
        raise ValueError(f"{path / CONFIG_FILE}: no 'benchmark' section")
    meta_path = path / "run.json"
    meta = _read_json(meta_path) if meta_path.exists() else {}
    if scored is not None and predictions is None:
        raise ValueError("load_run: scored results without the predictions they were computed from")
    kind = benchmark_config(config.get("benchmark") or {}).kind
    if kind not in benchmarks:
        raise BenchmarkError(f"unknown benchmark kind {kind!r}; registered: {', '.join(sorted(benchmarks))}")
    run = Run(path, config, _read_json(scores_path), meta, benchmarks[kind], tuple(benchmarks.values()),
              _predictions=predictions)
    _verify(run, fresh=scored is not None)
    if scored is not None:
        run._units = scored.units
        if scored.intervals is not None:
            run._scores_ci, run._intervals = run.scores, scored.intervals
    return run


def _warn(run: Run, message: str) -> None:
    run.warnings.append(message)
    print(f"warning: {message}", file=sys.stderr)


def _verify(run: Run, fresh: bool = False) -> None:
    """Refuse inconsistent predictions; replace scores that disagree with them (see the module docstring).
    ``fresh``: the scores were just computed from these predictions, so they are not computed again."""
    preds_path, scores_path = run.path / MERGED_FILE, run.path / SCORES_FILE
    if run._predictions is None and not preds_path.exists():
        _warn(run, f"{scores_path}: no {MERGED_FILE} beside it, so its numbers cannot be checked")
        return
    predictions = run.predictions()
    run.bench.check_predictions(predictions, str(preds_path), run.known)
    if fresh:
        return
    try:
        recomputed, units = recompute_scored(run.bench, predictions)
    except ValueError as exc:
        raise ValueError(f"{preds_path}: {exc}") from None
    if units is not None:
        run._units = units  # the item table behind the check serves the report and plots too
    stale = disagreeing_keys(run.scores, recomputed)
    if stale:
        shown = ", ".join(f"{k} {run.scores.get(k)!r} vs {recomputed[k]!r}" if not isinstance(recomputed[k], dict)
                          else k for k in stale[:4])
        _warn(run, f"{scores_path} disagrees with {MERGED_FILE} ({shown}{', ...' if len(stale) > 4 else ''}): "
                   "using the scores recomputed from the predictions")
        kept = {k: v for k, v in run.scores.items() if k not in recomputed and k != "ci"}
        run.scores = {**kept, **recomputed}


def _natural_key(path: Path) -> list:
    """Sort ``sweep/2`` before ``sweep/10`` (Hydra numbers multirun jobs)."""
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", str(path))]


def find_runs(paths: Iterable[str | Path], benchmarks: Mapping[str, Benchmark]) -> list[Run]:
    """Run directories given directly or found recursively below each path (sweeps), in natural order."""
    runs: list[Run] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such directory")
        if (path / SCORES_FILE).exists():
            runs.append(load_run(path, benchmarks))
            continue
        found = sorted((p.parent for p in path.rglob(SCORES_FILE)), key=_natural_key)
        if not found:
            raise FileNotFoundError(f"{path}: no run directory (scores.json) found here or below")
        runs.extend(load_run(p, benchmarks) for p in found)
    return runs
