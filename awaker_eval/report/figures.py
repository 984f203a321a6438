"""Every figure of one or more runs, written under one folder: score bars per level (per benchmark kind) and the
expert-routing heatmaps. Used by ``awaker-eval plot`` and by the HTML report."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from awaker_eval.report.groups import levels_for
from awaker_eval.report.plots import (LEVEL_TITLES, plot_routing_heatmap, plot_score_bars, routing_counts,
                                      score_bars_data)
from awaker_eval.report.runs import Run, unique_labels


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "run"


def write_plots(runs: list[Run], out: Path, levels: list[str] | None = None, n_boot: int = 1000, seed: int = 0,
                heatmap_by: str | None = None, phase: str = "prefill") -> list[Path]:
    """All figures for ``runs`` under ``out``; returns the PNG paths written (SVG and CSV beside each).

    An unknown ``levels`` entry is a ValueError naming the valid ones, before anything is written."""
    written: list[Path] = []
    by_kind: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        if run.scored:
            by_kind[run.kind].append(run)
    valid = sorted({lvl for group in by_kind.values() for lvl in levels_for(group[0].bench)} - {"overall"})
    unknown = [lvl for lvl in levels or [] if lvl not in valid]
    if unknown:
        raise ValueError(f"unknown --level {', '.join(map(repr, unknown))}: choose from {', '.join(valid) or '-'}")
    labels = dict(zip(map(id, runs), unique_labels(runs)))  # two checkpoints both named pytorch_model.bin
    for kind, group in by_kind.items():
        bench = group[0].bench
        items = [(labels[id(run)], run.units(), bench, run.intervals(n_boot=n_boot, seed=seed)) for run in group]
        kind_levels = [lvl for lvl in levels_for(bench) if lvl != "overall"]
        spec = bench.published_table(group[0].benchmark.language)
        name = spec.title if spec is not None else bench.title
        for level in levels or kind_levels:
            if level not in kind_levels:
                continue
            data = score_bars_data(items, level, n_boot=n_boot, seed=seed, overall=level == kind_levels[0])
            title = f"{name}: accuracy by {LEVEL_TITLES.get(level, bench.level_label(level))}"
            written.append(plot_score_bars(data, out / f"{kind}_{level}.png", title=title, bench=bench))
    for run in runs:
        by = heatmap_by or run.bench.heatmap_by
        if by is None:  # the benchmark names no heatmap rows: no figure
            continue
        counts = routing_counts(run.predictions(), by=by, phase=phase)
        if not counts.empty:
            png = out / f"experts_{_slug(labels[id(run)])}_{phase}.png"
            written.append(plot_routing_heatmap(counts, png, title=labels[id(run)], phase=phase))
    return written
