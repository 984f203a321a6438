"""Whether the shards in a run directory may be merged: every refusal is one line naming the shard and the fix.

Why so strict: a merge of a missing, unfinished or foreign shard would score a subset, or two runs, as one run;
a wrong number that exits 0 is the worst outcome an evaluation can have. Checked, in this order: one N, all N
present, all complete, the same data (digest of ids, answers, options, prompts and image bytes), the same weights
(model fingerprint), the same settings (protocol fingerprint and every setting that moves a prediction or a
score), positions that split the samples exactly, and each shard's predictions file matching its record.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from awaker_eval.engine.shards import Part
from awaker_eval.shard_records import (
    MergePlan, ShardRefused, read_predictions, record_path, records, scoring_settings,
)


def _rerun(part: Part, how: str = "") -> str:
    return f"rerun it with runner.shard={part.label}{how} (finished samples are reused), then merge"


def _last_attempt(rec: dict[str, Any]) -> str:
    last = (rec.get("attempts") or [{}])[-1]
    if rec.get("status") == "running":
        return (f"running since {last.get('started')}, pid {last.get('pid')} on host {last.get('host')}: still "
                f"running, or killed; wait for it, or")
    return f"its last attempt {rec.get('status')}: {last.get('error')};"


def _present(run_dir: Path) -> tuple[int, dict[int, dict[str, Any] | None]]:
    """N and the records by index; refuses no records or several N."""
    found = records(run_dir)
    if not found:
        raise ShardRefused(f"{run_dir} holds no shard records (shards/part-I-of-N.json): it was not run with "
                           f"runner.shard=I/N, or not started yet")
    counts = sorted({p.count for p in found})
    if len(counts) > 1:
        raise ShardRefused(f"{run_dir} holds shards of different N ({', '.join(map(str, counts))}): one run is split "
                           f"one way; remove the records of the other split (shards/part-*-of-N.json) and rerun its "
                           f"shards")
    return counts[0], {p.index: rec for p, rec in found.items()}


def _complete(run_dir: Path, count: int, by_index: dict[int, dict[str, Any] | None]) -> list[dict[str, Any]]:
    """The N records, each complete; refuses the first missing or unfinished shard."""
    out = []
    for index in range(count):
        part = Part(index, count)
        if index not in by_index:
            raise ShardRefused(f"shard {part.label} is missing (no {record_path(run_dir, part)}): run it with "
                               f"runner.shard={part.label}, then merge")
        rec = by_index[index]
        if rec is None:
            raise ShardRefused(f"shard {part.label} has an unreadable record ({record_path(run_dir, part)}): "
                               f"{_rerun(part)}")
        if rec.get("status") != "complete":
            raise ShardRefused(f"shard {part.label} is incomplete ({_last_attempt(rec)} {_rerun(part)})")
        out.append(rec)
    return out


def _setting_change(first: dict[str, Any], rec: dict[str, Any]) -> str | None:
    """The first setting (or the protocol fingerprint) in which ``rec`` differs from ``first``, in words."""
    a, b = scoring_settings(first.get("config") or {}), scoring_settings(rec.get("config") or {})
    changed = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
    key, old, new = (changed[0], a.get(changed[0]), b.get(changed[0])) if changed else \
        ("protocol fingerprint", first.get("protocol_fp"), rec.get("protocol_fp"))
    if old == new:
        return None
    return f"{key}: {old!r} in shard {first['shard']}, {new!r} in shard {rec['shard']}"


def _mismatch(first: dict[str, Any], rec: dict[str, Any]) -> tuple[str, str] | None:
    """Why ``rec`` cannot merge with ``first`` (other data, weights or settings) and how to rerun it; None when
    it can."""
    if rec.get("data_digest") != first.get("data_digest") or rec.get("total") != first.get("total"):
        return (f"made from other data than shard {first['shard']} (data digest {rec.get('data_digest')} vs "
                f"{first.get('data_digest')})", "")
    if rec.get("model_fp") != first.get("model_fp"):
        return (f"made with other weights than shard {first['shard']} (model fingerprint {rec.get('model_fp')} vs "
                f"{first.get('model_fp')})", "")
    change = _setting_change(first, rec)
    return None if change is None else (f"made with other settings than shard {first['shard']} ({change})",
                                        " and the settings of the others")


def _consistent(run_dir: Path, recs: list[dict[str, Any]]) -> None:
    """Every shard made from shard 0's data, weights and settings."""
    first = recs[0]
    for rec in recs[1:]:
        found = _mismatch(first, rec)
        if found is not None:
            why, how = found
            part = Part(int(rec["index"]), int(rec["count"]))
            raise ShardRefused(f"shard {rec['shard']} was {why}: {_rerun(part, how)}")


def _exact_split(run_dir: Path, recs: list[dict[str, Any]]) -> list[list[int]]:
    positions = [[int(p) for p in rec.get("positions") or []] for rec in recs]
    total = int(recs[0].get("total") or 0)
    if sorted(p for ps in positions for p in ps) != list(range(total)):
        raise ShardRefused(f"the {len(recs)} shards in {run_dir} do not split its {total} samples exactly (they were "
                           f"assigned differently): rerun every shard, then merge")
    return positions


def plan_merge(run_dir: Path) -> MergePlan:
    """Every check, then the predictions of all shards in sample order; ShardRefused (one line) otherwise."""
    run_dir = Path(run_dir)
    count, by_index = _present(run_dir)
    recs = _complete(run_dir, count, by_index)
    _consistent(run_dir, recs)
    positions = _exact_split(run_dir, recs)
    ordered: dict[int, Any] = {}
    for rec, mine in zip(recs, positions):
        part = Part(int(rec["index"]), count)
        preds = read_predictions(run_dir, part, rec)
        if preds is None or len(preds) != len(mine):
            raise ShardRefused(f"shard {part.label} is incomplete: its predictions file is missing or is not the one "
                               f"its record describes: {_rerun(part)}")
        ordered.update(zip(mine, preds))
    merged = [ordered[p] for p in range(len(ordered))]
    if len({p.id for p in merged}) != len(merged):
        raise ShardRefused(f"the shards in {run_dir} hold one sample twice (they were assigned differently): rerun "
                           f"every shard, then merge")
    return MergePlan(count, recs, merged)


def waiting_for(run_dir: Path, mine: dict[str, Any]) -> list[str]:
    """The shards the shard of record ``mine`` still waits for before it merges: not complete, or complete but
    made from other data or weights (an array rerun after the data file or the checkpoint changed in place: those
    shards are rerunning too, and the last of them merges). Other settings are not waited for: the merge refuses
    them (a shard run with the wrong settings). Empty: every shard is ready to merge or to be refused."""
    count, found = int(mine["count"]), records(run_dir)
    waiting = []
    for i in range(count):
        rec = found.get(Part(i, count)) or {}
        if rec.get("status") != "complete":
            waiting.append(Part(i, count).label)
            continue
        mismatch = _mismatch(mine, rec)
        if mismatch is not None and not mismatch[1]:  # data or weights ("how" is set for settings only)
            waiting.append(f"{Part(i, count).label} (its record is from other data or weights)")
    return waiting
