"""The figures of ``explain`` (waterfall) and ``curve`` (accuracy vs visual tokens), each with its CSV beside it.

matplotlib is imported on first use (as ``report/plots.py`` does), so the commands' ``--help`` and ``--json``
paths stay light.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from awaker_eval.report.plots import pyplot, save_figure


def waterfall_data(score_a: float, contributions: dict[str, float], intervals: dict[str, tuple[float, float]],
                   score_b: float) -> pd.DataFrame:
    """``step, start, end, delta, lo, hi`` (points): A, each knob from where the previous one ended, B."""
    rows = [{"step": "A", "start": 0.0, "end": score_a, "delta": score_a, "lo": float("nan"), "hi": float("nan")}]
    level = score_a
    for knob, delta in contributions.items():
        lo, hi = intervals[knob]
        rows.append({"step": knob, "start": level, "end": level + delta, "delta": delta, "lo": lo, "hi": hi})
        level += delta
    rows.append({"step": "B", "start": 0.0, "end": score_b, "delta": score_b, "lo": float("nan"), "hi": float("nan")})
    return pd.DataFrame(rows)


def plot_waterfall(data: pd.DataFrame, png: Path, title: str) -> Path:
    """A's score, each knob's contribution as a floating bar (green up, red down; whisker: its interval), B's."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(data)), 4.0))
    x = range(len(data))
    corner = data["step"].isin(["A", "B"]).to_numpy()
    colours = ["#777" if c else ("#2a9d4b" if d >= 0 else "#c8453a") for c, d in zip(corner, data["delta"])]
    ax.bar(x, data["end"] - data["start"], bottom=data["start"], color=colours, width=0.6)
    for i, row in enumerate(data.itertuples()):
        if not corner[i]:
            base = row.start  # the interval of the contribution, drawn from where the bar starts
            ax.plot([i, i], [base + row.lo, base + row.hi], color="black", linewidth=1)
        ax.annotate(f"{row.delta:+.2f}" if not corner[i] else f"{row.end:.2f}", (i, max(row.start, row.end)),
                    ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(x), [str(s) for s in data["step"]], rotation=20, ha="right")
    ax.set_ylabel("score (points)")
    ax.set_title(title)
    return save_figure(plt, fig, png, data)


def plot_curve(data: pd.DataFrame, png: Path, title: str, published: dict[str, float]) -> Path:
    """Accuracy (Overall and splits, 95% whiskers) against mean visual tokens per image; published values as
    dashed horizontal lines."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    groups = [c[: -len("_score")] for c in data.columns if c.endswith("_score")]
    for group in groups:
        y, lo, hi = data[f"{group}_score"], data[f"{group}_lo"], data[f"{group}_hi"]
        ax.errorbar(data["mean_visual_tokens"], y, yerr=[y - lo, hi - y], marker="o", capsize=3, label=group)
    for name, value in published.items():
        ax.axhline(value, linestyle="--", linewidth=1, color="#555")
        ax.annotate(f"published {name} {value:.1f}", (data["mean_visual_tokens"].min(), value), fontsize=8,
                    va="bottom")
    ax.set_xlabel("mean visual tokens per image")
    ax.set_ylabel("accuracy (points)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return save_figure(plt, fig, png, data)
