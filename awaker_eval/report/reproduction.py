"""Does our number reproduce the published one? A verdict in words for each of our runs that has a counterpart.

A run has a published counterpart when the benchmark's published table holds a row of the same model (by its
name, its checkpoint's or weights' folder name, ``-Instruct`` dropped; a fine-tune with a PEFT adapter is another
model). Then: ``reproduced`` when the published value lies inside our 95% interval, ``not reproduced (published X,
ours Y [lo, hi])`` when it does not, ``not comparable (why)`` when the run did not score the published item set (a
subset, MMBench DEV against the TEST-server columns). Runs without a counterpart get no verdict.
"""

from __future__ import annotations

import html
import math
import re
from pathlib import PurePosixPath

import pandas as pd

from awaker_eval.data.subsets import describe_subset
from awaker_eval.report.published import TableSpec
from awaker_eval.report.runs import Run

# Published names that differ from the released model's own name: MME-RealWorld's "Qwen2-VL" row is Qwen2-VL-7B.
ALIASES = {"qwen2vl": "qwen2vl7b"}
NOT_COMPARABLE = re.compile(r"not (directly )?comparable")
REPRODUCED = "reproduced"


def model_key(name: str) -> str:
    """``Qwen/Qwen2-VL-7B-Instruct``, ``qwen2_vl_7b_instruct`` -> ``qwen2vl7b``; ``Awaker2.5-VL`` -> ``awaker25vl``."""
    key = re.sub(r"[^a-z0-9]", "", PurePosixPath(str(name)).name.lower())
    key = key[: -len("instruct")] if key.endswith("instruct") else key
    return ALIASES.get(key, key)


def model_keys(model: dict) -> set[str]:
    """The names a run's model is known by; empty for a fine-tune (an adapter on top is not the published model)."""
    if model.get("adapter"):
        return set()
    weights = model.get("checkpoint") or model.get("path")
    return {model_key(v) for v in (model.get("name"), weights) if v}


def published_row(spec: TableSpec, model: dict) -> pd.Series | None:
    """The published row of this model in ``spec``'s table, else None."""
    if not spec.published:
        return None
    keys = model_keys(model)
    table = spec.load()
    hits = table[[model_key(m) in keys for m in table["model"]]]
    return None if hits.empty else hits.iloc[0]


def why_not_comparable(run: Run, scores: dict) -> str | None:
    """Why the run's number is not on the published item set (None: it is)."""
    bench = run.benchmark
    if bench.variant != "full":
        return f"the {bench.variant} variant; the published rows score the full set"
    subset = describe_subset(bench.limit, bench.subset, bench.subset_seed)
    if subset:
        return f"a subset run: {subset}"
    for note in run.bench.leaderboard_notes("", bench, scores):
        if NOT_COMPARABLE.search(note):
            return note.removeprefix(": ").rstrip(".")
    return None


def verdict(spec: TableSpec, run: Run, label: str | None = None) -> str | None:
    """``label: reproduced ...`` / ``not reproduced (...)`` / ``not comparable (...)``; None without a counterpart."""
    row = published_row(spec, run.model)
    label = label or run.label
    if row is None:
        return None
    column = (getattr(run.bench, "version_columns", None) or {}).get(run.benchmark.version, "overall")
    published = row.get(column)
    scores = run.scores_with_ci()
    why = why_not_comparable(run, scores)
    if why:
        return f"{label}: not comparable to the published {row['model']} ({why})"
    ci = (scores.get("ci") or {}).get("overall")
    if published is None or (isinstance(published, float) and math.isnan(published)) or not ci:
        return f"{label}: not judged (no published value in column {column!r} or no interval of ours)"
    ours, lo, hi = 100 * scores["overall"], 100 * ci[0], 100 * ci[1]
    shown = f"published {published:g}, ours {ours:.2f} [{lo:.2f}, {hi:.2f}]"
    if lo <= float(published) <= hi:
        return f"{label}: {REPRODUCED} ({row['model']}: {shown}: the published value lies inside our 95% interval)"
    return f"{label}: not {REPRODUCED} ({shown})"


def verdict_lines(spec: TableSpec, labelled_runs: list[tuple[str, Run]]) -> list[str]:
    """The verdict of every run that has a published counterpart."""
    return [v for label, run in labelled_runs if (v := verdict(spec, run, label))]


def verdict_text(spec: TableSpec, labelled_runs: list[tuple[str, Run]], fmt: str = "md") -> str:
    """The verdicts under a printed table (md: a list, latex: comments, html: a list; csv: nothing)."""
    lines = verdict_lines(spec, labelled_runs)
    if not lines or fmt == "csv":
        return ""
    if fmt == "latex":
        return "".join(f"% reproduction: {line}\n" for line in lines)
    if fmt == "html":
        return ("<h3>Reproduction</h3><ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in lines)
                + "</ul>\n")
    return "\nReproduction of the published number:\n" + "".join(f"- {line}\n" for line in lines)
