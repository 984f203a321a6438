"""Figures, each written as PNG together with the exact data behind it as CSV.

- Score bars: Overall + Perception / Reasoning (or + l2 ability), per subtask and per category, for one or more
  runs: 95% interval whiskers, value and n per bar, a marker at 0, the chance line, readable group names.
- Expert heatmap (Awaker runs): for every task and decoder layer, which LoRA expert each router chose most
  often and how often, from the routing records stored with the predictions.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from awaker_eval.tasks.base import Benchmark, readable_key
from awaker_eval.report.intervals import run_intervals
from awaker_eval.types import Prediction

ROUTER_NAMES = ("o_proj", "gate_proj")  # per layer: router 0 decides for o_proj, router 1 for gate/up/down


def pyplot():
    """matplotlib's pyplot on the file-only backend, imported on first use (light --help and --json paths)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(plt, fig, png: Path, data: pd.DataFrame) -> Path:
    """Write the figure as PNG and SVG, and the exact data behind it as CSV beside them."""
    fig.tight_layout()
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=120)
    fig.savefig(png.with_suffix(".svg"))
    plt.close(fig)
    data.to_csv(png.with_suffix(".csv"), index=False)
    return png


def score_bars_data(runs: list[tuple], level: str, n_boot: int = 1000, seed: int = 0,
                    alpha: float = 0.05, overall: bool = False) -> pd.DataFrame:
    """``run, level, group, n, score, lo, hi, method, clusters`` (×100) for every group at ``level`` of each run.

    Each run is ``(label, units, bench)`` or ``(label, units, bench, intervals)`` (``bench``: the ``Benchmark``) with the run's
    ``IntervalTable`` (``Run.intervals``: the bootstrap done once for all levels); without one it is computed
    here. ``overall`` puts the Overall row first (the aggregate plot). Plotting adds ``label`` and ``chance``."""
    frames = []
    for label, units, bench, *rest in runs:
        intervals = rest[0] if rest else run_intervals({}, units, bench, n_boot=n_boot, seed=seed, alpha=alpha)[1]
        if not (intervals.table["level"] == level).any():
            continue
        wanted = ("overall", level) if overall else (level,)
        picked: dict[str, int] = {}  # group name -> row (a later row of the same name replaces it in place)
        for i, lvl in enumerate(intervals.table["level"]):
            if lvl in wanted:
                picked[intervals.table["group"].iat[i]] = i
        columns = ["group", "n", "score", "lo", "hi", "method", "clusters"]  # method: bootstrap | exact (small_n)
        table = intervals.table.iloc[list(picked.values())][columns].reset_index(drop=True)
        table[["score", "lo", "hi"]] *= 100
        table.insert(0, "level", [("overall" if g == "Overall" and overall else level) for g in table["group"]])
        table.insert(0, "run", label)
        table["chance"] = [100 * chance_rate(units[intervals.masks[i]], bench) for i in picked.values()]
        frames.append(table)
    if not frames:
        raise ValueError(f"no run has groups at level {level!r}")
    return pd.concat(frames, ignore_index=True)


def chance_rate(units: pd.DataFrame, bench: Benchmark) -> float:
    """Expected accuracy of uniform guessing on these units, as the benchmark defines it (NaN: no chance line)."""
    return bench.chance_rate(units)


def plot_score_bars(data: pd.DataFrame, png: Path, title: str = "", *, bench: Benchmark) -> Path:
    """Horizontal grouped bars (one colour per run), 95% whiskers, value and n per bar, a marker at 0 (so 0 is
    not mistaken for missing) and the chance line; writes PNG, SVG and the CSV of the plotted numbers."""
    plt = pyplot()
    data = data.assign(label=[readable_group(lvl, g, bench) for lvl, g in zip(data["level"], data["group"])])
    groups = list(dict.fromkeys(data["group"]))
    labels = dict(zip(data["group"], data["label"]))
    runs = list(dict.fromkeys(data["run"]))
    height = 0.8 / len(runs)
    fig, ax = plt.subplots(figsize=(9, 1.4 + 0.4 * len(groups) * max(1, len(runs) * 0.6)))
    y = np.arange(len(groups))
    for i, run in enumerate(runs):
        part = data[data["run"] == run].set_index("group").reindex(groups)
        err = np.vstack([part["score"] - part["lo"], part["hi"] - part["score"]])
        pos = y + i * height
        bars = ax.barh(pos, part["score"], height=height, xerr=np.nan_to_num(err), capsize=2, label=run)
        colour = bars.patches[0].get_facecolor() if bars.patches else None
        for yy, (_, r) in zip(pos, part.iterrows()):
            if not np.isfinite(r["score"]):
                ax.text(1, yy, "no items", va="center", fontsize=7, color="grey")
                continue
            if r["score"] == 0:
                ax.plot([0], [yy], marker="D", color=colour, markersize=4, clip_on=False)
            ax.text(max(r["hi"], r["score"]) + 1, yy, f"{r['score']:.1f}  n={int(r['n'])}", va="center", fontsize=7)
    chance = data["chance"].dropna()
    if len(chance) and chance.nunique() == 1:
        ax.axvline(chance.iloc[0], color="grey", linestyle="--", linewidth=1,
                   label=f"chance ({chance.iloc[0]:.1f}%)")
    elif len(chance):
        ax.scatter(data["chance"], [y[groups.index(g)] + height * (len(runs) - 1) / 2 for g in data["group"]],
                   marker="|", s=120, color="grey", label="chance (per group)", zorder=3)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(y + height * (len(runs) - 1) / 2, [labels[g] for g in groups], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("accuracy (%), whiskers: 95% clustered bootstrap interval (exact for small groups)")
    ax.set_xlim(-2, 118)  # room for caps at 100 and the value labels: intervals are never clipped
    ax.set_xticks(range(0, 101, 20))
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)  # never over a bar
    return save_figure(plt, fig, png, data)


def readable_group(level: str, group: str, bench: Benchmark) -> str:
    """A group name as a reader expects it (``Autonomous Driving (Perception)``, ``Coarse perception (CP)``),
    as the benchmark ``bench`` labels its groups; raw keys stay recognisable."""
    return bench.group_label(level, group)


LEVEL_TITLES = {"split": "Overall and Perception / Reasoning", "subtask": "subtask", "category": "fine category",
                "l2_category": "Overall and ability (L2)"}


def _experts(entry: Any) -> Iterable[int]:
    """Expert indices in one router entry: ``[expert, p]``, a bare index, or a list of those (decode steps)."""
    if isinstance(entry, (int, np.integer)) and not isinstance(entry, bool):
        yield int(entry)
    elif isinstance(entry, (list, tuple)):
        if len(entry) == 2 and isinstance(entry[0], (int, np.integer)) and isinstance(entry[1], float):
            yield int(entry[0])
        else:
            for item in entry:
                yield from _experts(item)


def routing_counts(predictions: Iterable[Prediction], by: str = "subtask", phase: str = "prefill") -> pd.DataFrame:
    """``task, layer, router, expert, count, share`` over all predictions that carry a routing record.

    ``by`` is the Prediction field naming the task (subtask, category, l2_category, task). Records without the
    phase, or predictions without routing (non-Awaker runs, failed samples), are skipped.
    """
    counts: Counter = Counter()
    for pred in predictions:
        record = (pred.routing or {}).get(phase)
        layers = record.get("expert") if isinstance(record, dict) else None
        if not isinstance(layers, list):
            continue
        names = (pred.routing or {}).get("routers") or ROUTER_NAMES
        task = str(getattr(pred, by) or "-")
        for layer, routers in enumerate(layers):
            for r, entry in enumerate(routers if isinstance(routers, list) else []):
                name = names[r] if r < len(names) else f"router{r}"
                for expert in _experts(entry):
                    counts[(task, layer, name, expert)] += 1
    columns = ["task", "layer", "router", "expert", "count", "share"]
    if not counts:
        return pd.DataFrame(columns=columns)
    table = pd.DataFrame([(*k, v) for k, v in counts.items()], columns=columns[:-1])
    table["share"] = table["count"] / table.groupby(["task", "layer", "router"])["count"].transform("sum")
    return table.sort_values(["router", "task", "layer", "expert"]).reset_index(drop=True)[columns]


def top_experts(counts: pd.DataFrame) -> pd.DataFrame:
    """Per (task, layer, router): the most chosen expert (lowest index on a tie), its share, and ``tied`` = every
    expert sharing that top count (``1=3``), so a tie is shown as a tie rather than as one expert."""
    best = counts.groupby(["task", "layer", "router"])["count"].transform("max")
    top = counts[counts["count"] == best].sort_values("expert")
    return (top.groupby(["task", "layer", "router"], sort=False)
            .agg(expert=("expert", "first"), share=("share", "first"),
                 tied=("expert", lambda e: "=".join(map(str, e)) if len(e) > 1 else ""))
            .reset_index())


def plot_routing_heatmap(counts: pd.DataFrame, png: Path, title: str = "", phase: str = "prefill") -> Path:
    """One panel per router: rows = task, columns = layer, colour = most chosen expert, text = its share (%);
    a tie is written as the tied experts (``1=3``) under the share."""
    if counts.empty:
        raise ValueError("no routing records to plot (is this an Awaker run with routing recorded?)")
    plt = pyplot()
    top = top_experts(counts)
    found = set(counts["router"])
    routers = [r for r in ROUTER_NAMES if r in found] + sorted(found - set(ROUTER_NAMES))
    tasks = sorted(top["task"].unique())
    layers = sorted(top["layer"].unique())
    n_experts = int(counts["expert"].max()) + 1
    cmap = plt.get_cmap("tab10", max(n_experts, 2))
    size = (max(7.0, 3.5 + 0.5 * len(layers)), 1.5 + 0.6 * len(tasks) * len(routers))
    fig, axes = plt.subplots(len(routers), 1, figsize=size, squeeze=False)
    for ax, router in zip(axes[:, 0], routers):
        part = top[top["router"] == router]
        grid = {col: part.pivot(index="task", columns="layer", values=col).reindex(index=tasks, columns=layers)
                for col in ("expert", "share", "tied")}
        image = ax.imshow(grid["expert"].to_numpy(float), cmap=cmap, vmin=-0.5, vmax=n_experts - 0.5,
                          aspect="auto")
        for (i, j), value in np.ndenumerate(grid["share"].to_numpy(float)):
            if np.isfinite(value):
                tied = grid["tied"].iat[i, j]
                text = f"{100 * value:.0f}" + (f"\n{tied}" if isinstance(tied, str) and tied else "")
                ax.text(j, i, text, ha="center", va="center", fontsize=8 if not tied else 7)
        ax.set_yticks(range(len(tasks)), [readable_key(t) for t in tasks], fontsize=9)
        ax.set_xticks(range(len(layers)), layers, fontsize=8)
        ax.set_title(f"{title}: {phase} routing, router {router}", fontsize=10)
        fig.colorbar(image, ax=ax, ticks=range(n_experts), label="expert")
    axes[-1, 0].set_xlabel("decoder layer\ncolour: most chosen expert; text: % of samples choosing it "
                           "(a=b: experts tied)", fontsize=9)
    return save_figure(plt, fig, png, counts)


def plot_leaderboard(frame: pd.DataFrame, png: Path, title: str = "") -> Path:
    """Overall of every published model as a point, ours as a highlighted point with its 95% interval; ``frame``
    is ``leaderboard.table_frame`` (scores ×100, sorted by Overall). Models without an Overall are left out."""
    plt = pyplot()
    shown = frame[frame["overall"].notna()].reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.28 * len(shown)))
    y = np.arange(len(shown))
    theirs = ~shown["ours"].astype(bool)
    ax.scatter(shown.loc[theirs, "overall"], y[theirs], color="#555555", s=18, label="published")
    ours = shown[~theirs]
    err = np.vstack([ours["overall"] - ours["ci_lo"], ours["ci_hi"] - ours["overall"]])
    ax.errorbar(ours["overall"], y[~theirs], xerr=np.nan_to_num(np.abs(err)), fmt="D", color="#d62728",
                capsize=3, markersize=6, label="ours (95% interval)")
    for yy, (_, r) in zip(y, shown.iterrows()):
        right = r["ci_hi"] if r["ours"] and np.isfinite(r["ci_hi"]) else r["overall"]
        ax.text(right + 0.8, yy, f"{r['overall']:.1f}", va="center", fontsize=7,
                color="#d62728" if r["ours"] else "#333333")
    ax.set_yticks(y, [f"{m} ★" if o else str(m) for m, o in zip(shown["model"], shown["ours"])], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 105)
    ax.set_xlabel("Overall accuracy (%)")
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    return save_figure(plt, fig, png, shown)
