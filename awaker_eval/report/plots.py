"""Figures, each written as PNG together with the exact data behind it as CSV.

- Score bars: per subtask / category (or l2 ability) for one or more runs, with 95% interval whiskers.
- Expert heatmap (Awaker runs): for every task and decoder layer, which LoRA expert each router chose most
  often and how often, from the routing records stored with the predictions.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from awaker_eval.report.groups import breakdown_masks
from awaker_eval.report.stats import bootstrap_intervals
from awaker_eval.types import Prediction

ROUTER_NAMES = ("o_proj", "gate_proj")  # per layer: router 0 decides for o_proj, router 1 for gate/up/down


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, png: Path, data: pd.DataFrame) -> Path:
    """Write the figure as PNG and the exact data behind it as CSV beside it."""
    fig.tight_layout()
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=120)
    plt.close(fig)
    data.to_csv(png.with_suffix(".csv"), index=False)
    return png


def score_bars_data(runs: list[tuple[str, pd.DataFrame, str]], level: str, n_boot: int = 1000, seed: int = 0,
                    alpha: float = 0.05) -> pd.DataFrame:
    """``run, level, group, n, score, lo, hi`` (×100) for every group at ``level`` of each (label, units, kind)."""
    frames = []
    for label, units, kind in runs:
        masks = {name: mask for lvl, name, mask in breakdown_masks(units, kind) if lvl == level}
        if not masks:
            continue
        clusters = units["cluster"].to_numpy()
        table = bootstrap_intervals(units["correct"].to_numpy(), clusters, masks, n_boot, seed, alpha)
        table[["score", "lo", "hi"]] *= 100
        table.insert(0, "level", level)
        table.insert(0, "run", label)
        frames.append(table)
    if not frames:
        raise ValueError(f"no run has groups at level {level!r}")
    return pd.concat(frames, ignore_index=True)


def plot_score_bars(data: pd.DataFrame, png: Path, title: str = "") -> Path:
    """Horizontal grouped bars (one colour per run) with interval whiskers; writes ``png`` and ``png``.csv."""
    plt = _pyplot()
    groups = list(dict.fromkeys(data["group"]))
    runs = list(dict.fromkeys(data["run"]))
    height = 0.8 / len(runs)
    fig, ax = plt.subplots(figsize=(8, 1.0 + 0.35 * len(groups) * max(1, len(runs) * 0.6)))
    y = np.arange(len(groups))
    for i, run in enumerate(runs):
        part = data[data["run"] == run].set_index("group").reindex(groups)
        err = np.vstack([part["score"] - part["lo"], part["hi"] - part["score"]])
        ax.barh(y + i * height, part["score"], height=height, xerr=np.nan_to_num(err), capsize=2, label=run)
    ax.set_yticks(y + height * (len(runs) - 1) / 2, groups)
    ax.invert_yaxis()
    ax.set_xlabel("accuracy (%) with 95% interval")
    ax.set_xlim(0, 100)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    return _save(plt, fig, png, data)


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


def plot_routing_heatmap(counts: pd.DataFrame, png: Path, title: str = "") -> Path:
    """One panel per router: rows = task, columns = layer, colour = most chosen expert, text = its share (%)."""
    if counts.empty:
        raise ValueError("no routing records to plot (is this an Awaker run with routing recorded?)")
    plt = _pyplot()
    top = counts.sort_values("share", ascending=False, kind="stable").drop_duplicates(["task", "layer", "router"])
    found = set(counts["router"])
    routers = [r for r in ROUTER_NAMES if r in found] + sorted(found - set(ROUTER_NAMES))
    tasks = sorted(top["task"].unique())
    layers = sorted(top["layer"].unique())
    n_experts = int(counts["expert"].max()) + 1
    cmap = plt.get_cmap("tab10", max(n_experts, 2))
    size = (max(6.0, 3 + 0.3 * len(layers)), 1.2 + 0.45 * len(tasks) * len(routers))
    fig, axes = plt.subplots(len(routers), 1, figsize=size, squeeze=False)
    for ax, router in zip(axes[:, 0], routers):
        part = top[top["router"] == router]
        expert = part.pivot(index="task", columns="layer", values="expert").reindex(index=tasks, columns=layers)
        share = part.pivot(index="task", columns="layer", values="share").reindex(index=tasks, columns=layers)
        image = ax.imshow(expert.to_numpy(float), cmap=cmap, vmin=-0.5, vmax=n_experts - 0.5, aspect="auto")
        for (i, j), value in np.ndenumerate(share.to_numpy(float)):
            if np.isfinite(value):
                ax.text(j, i, f"{100 * value:.0f}", ha="center", va="center", fontsize=6)
        ax.set_yticks(range(len(tasks)), tasks, fontsize=7)
        ax.set_xticks(range(len(layers)), layers, fontsize=6)
        ax.set_title(f"{title}: router {router}, most chosen expert (text: % of samples)", fontsize=8)
        fig.colorbar(image, ax=ax, ticks=range(n_experts), label="expert")
    axes[-1, 0].set_xlabel("decoder layer")
    return _save(plt, fig, png, counts)
