"""Reading what W&B wrote in offline mode: the records of an offline run's ``run-<id>.wandb`` file.

The file is a LevelDB-style log (W&B's own format, the one ``wandb sync`` uploads): a 7-byte header (``:W&B``,
magic, version), then 32 KiB blocks of chunks, each with a 7-byte header (CRC32C, length, type: 1 full, 2 first,
3 middle, 4 last); a record is a serialised ``wandb.proto.wandb_internal_pb2.Record``.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any, Iterator

BLOCK = 32768
HEADER = 7


def records(path: Path) -> Iterator[Any]:
    """Every Record of the file, in order."""
    from wandb.proto import wandb_internal_pb2

    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run file"
    pos, chunks = HEADER, b""
    while pos + HEADER <= len(data):
        if BLOCK - pos % BLOCK < HEADER:  # a block's tail too short for a header is padding
            pos += BLOCK - pos % BLOCK
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + HEADER])
        pos += HEADER
        if kind == 0 and length == 0:  # zero padding up to the block's end
            pos += BLOCK - pos % BLOCK if pos % BLOCK else 0
            continue
        chunks += data[pos:pos + length]
        pos += length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(chunks)
            chunks = b""
            yield record


def _key(item: Any) -> str:
    """A record item's key (nested keys joined with /)."""
    return "/".join(item.nested_key) if item.nested_key else item.key


def logged(run_file: Path) -> dict[str, dict[str, Any]]:
    """``{"config": {...}, "summary": {...}, "history": {...}}``: the last value of each key, JSON-decoded."""
    out: dict[str, dict[str, Any]] = {"config": {}, "summary": {}, "history": {}}
    for record in records(run_file):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            out["config"].update({_key(u): json.loads(u.value_json) for u in record.run.config.update})
            out["run"] = {"tags": list(record.run.tags), "name": record.run.display_name}
        elif kind == "config":
            out["config"].update({_key(u): json.loads(u.value_json) for u in record.config.update})
        elif kind == "summary":
            out["summary"].update({_key(u): json.loads(u.value_json) for u in record.summary.update})
        elif kind == "history":
            out["history"].update({_key(i): json.loads(i.value_json) for i in record.history.item})
    return out
