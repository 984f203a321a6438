"""What each job-array shard leaves in ``<run_dir>/shards/``, and the checks that decide whether N of them merge.

Per shard I of N: ``part-I-of-N.json`` (its record: status, attempts, the data digest, the protocol and weights
fingerprints, the settings it scored with, its sample positions and a digest of its predictions) and
``part-I-of-N.predictions.jsonl`` (its final predictions, in sample order, written before the record says
``complete``). Its work in progress lives in the store like any rank's (``predictions.rank0.partIofN.jsonl``).

Why a record per shard rather than one shared file: the shards run at once on different machines; each writes only
its own files (atomically), and the merge reads them all. The merge never loads the data or the model: everything
it checks and scores with is in the records, so ``awaker-eval merge`` and the last shard give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from awaker_eval.atomic_io import write_text_atomic
from awaker_eval.engine.shards import Part
from awaker_eval.engine.store import SHARD_DIR, prediction_from_dict, prediction_to_json
from awaker_eval.preflight import ConfigError
from awaker_eval.types import Prediction

_RECORD = re.compile(r"^part-(\d+)-of-(\d+)\.json$")
# Settings that change neither a prediction nor a score (engine knobs, where files go): shards may differ in them.
FREE_SETTINGS = ("runner.shard", "runner.batch_size", "runner.max_batch_visual_tokens", "runner.num_workers",
                 "runner.prefetch_bytes", "runner.resume", "runner.progress", "runner.threads", "runner.self_check",
                 "model.secret_patterns", "results_root", "output_dir", "run_id", "logger.")


class ShardRefused(ConfigError):
    """Shards that cannot be merged (missing, incomplete, other settings / data / weights, another N)."""


def record_path(run_dir: Path, part: Part) -> Path:
    return Path(run_dir) / SHARD_DIR / f"part-{part.index}-of-{part.count}.json"


def predictions_path(run_dir: Path, part: Part) -> Path:
    return Path(run_dir) / SHARD_DIR / f"part-{part.index}-of-{part.count}.predictions.jsonl"


def read_record(path: Path) -> dict[str, Any] | None:
    """A record, or None when it is absent or unreadable (a record is written atomically: unreadable = damaged)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_record(run_dir: Path, part: Part, record: dict[str, Any]) -> None:
    write_text_atomic(record_path(run_dir, part), json.dumps(record, indent=1, sort_keys=True, default=str))


def records(run_dir: Path) -> dict[Part, dict[str, Any] | None]:
    """Every shard record of the run directory by part (None: present but unreadable)."""
    found: dict[Part, dict[str, Any] | None] = {}
    folder = Path(run_dir) / SHARD_DIR
    for path in sorted(folder.glob("part-*-of-*.json")) if folder.is_dir() else ():
        match = _RECORD.match(path.name)
        if match:
            found[Part(int(match.group(1)), int(match.group(2)))] = read_record(path)
    return found


def other_counts(run_dir: Path, count: int) -> list[int]:
    """The N of shard records in the run directory other than ``count`` (shards of one run share one N)."""
    return sorted({p.count for p in records(run_dir) if p.count != count})


def flat(data: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(data, dict):
        return {prefix[:-1]: data}
    out: dict[str, Any] = {}
    for key, value in data.items():
        out.update(flat(value, f"{prefix}{key}."))
    return out


def scoring_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The settings of a (redacted, plain) config that the shards of one run must share."""
    return {k: v for k, v in flat(config).items() if not k.startswith(FREE_SETTINGS)}


def write_predictions(run_dir: Path, part: Part, predictions: list[Prediction]) -> str:
    """The shard's final predictions (sample order), atomically; returns their SHA-256 (kept in the record)."""
    text = "".join(prediction_to_json(p) + "\n" for p in predictions)
    write_text_atomic(predictions_path(run_dir, part), text)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_predictions(run_dir: Path, part: Part, record: dict[str, Any]) -> list[Prediction] | None:
    """The shard's final predictions when the file is there and is the one its record describes, else None."""
    try:
        raw = predictions_path(run_dir, part).read_bytes()
    except OSError:
        return None
    if hashlib.sha256(raw).hexdigest() != record.get("predictions_sha256"):
        return None
    return [prediction_from_dict(json.loads(line)) for line in raw.decode("utf-8").splitlines()]


@dataclass(frozen=True)
class MergePlan:
    """N complete, consistent shards: their records (by index) and every prediction in sample order."""

    count: int
    records: list[dict[str, Any]]
    predictions: list[Prediction]

    @property
    def first(self) -> dict[str, Any]:
        return self.records[0]

    def digest(self) -> dict[str, str]:
        """What was merged (each shard's predictions digest): a merge of the same shards is the same merge."""
        return {r["shard"]: r["predictions_sha256"] for r in self.records}
