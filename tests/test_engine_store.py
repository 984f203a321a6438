"""Prediction store: torn lines, fingerprints, duplicate resolution, merged file order."""

from __future__ import annotations

import json

import pytest

from awaker_eval.engine import store
from awaker_eval.types import Prediction


def pred(sid: str, pfp: str = "p1", mfp: str = "m1", error: str | None = None, extracted: str = "A") -> Prediction:
    return Prediction(
        id=sid, benchmark="b", prompt_hash="h", protocol_fp=pfp, model_fp=mfp, raw_output=extracted,
        extracted=extracted, extract_method="rule", answer="A", correct=error is None and extracted == "A",
        question="问题", error=error,
    )


def test_roundtrip_keeps_every_field_and_unicode(tmp_path):
    p = pred("x1")
    p.choice_logprobs = {"A": -0.1, "B": -2.5}
    p.extra = {"k": [1, 2]}
    with store.ShardWriter(tmp_path, 0) as w:
        w.append([p])
    raw = store.shard_path(tmp_path, 0).read_text(encoding="utf-8")
    assert "问题" in raw and raw.endswith("\n")
    assert store.load_predictions(tmp_path) == {"x1": p}


def test_torn_last_line_is_ignored_then_cut_before_the_next_append(tmp_path):
    with store.ShardWriter(tmp_path, 0) as w:
        w.append([pred("a"), pred("b")])
    path = store.shard_path(tmp_path, 0)
    full = store.prediction_to_json(pred("c"))
    with open(path, "a", encoding="utf-8") as fh:  # a SIGKILL in the middle of a write
        fh.write(full[: len(full) // 2])
    assert sorted(store.load_predictions(tmp_path)) == ["a", "b"]
    with store.ShardWriter(tmp_path, 0) as w:
        w.append([pred("c")])
    lines = path.read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["a", "b", "c"]


def test_corrupt_middle_line_is_skipped(tmp_path):
    path = store.shard_path(tmp_path, 0)
    path.parent.mkdir(parents=True)
    path.write_text(store.prediction_to_json(pred("a")) + "\n{garbage\n" + store.prediction_to_json(pred("b")) + "\n")
    assert sorted(store.load_predictions(tmp_path)) == ["a", "b"]


def test_fingerprints_filter_and_all_rank_files_are_read(tmp_path):
    with store.ShardWriter(tmp_path, 0) as w:
        w.append([pred("a"), pred("b", pfp="p2")])
    with store.ShardWriter(tmp_path, 3) as w:
        w.append([pred("c"), pred("d", mfp="m2")])
    assert sorted(store.load_predictions(tmp_path, "p1", "m1")) == ["a", "c"]
    assert sorted(store.load_predictions(tmp_path, "p2", "m1")) == ["b"]
    assert [p.name for p in store.shard_files(tmp_path)] == ["predictions.rank0.jsonl", "predictions.rank3.jsonl"]


def test_success_beats_failure_whatever_the_file_order(tmp_path):
    with store.ShardWriter(tmp_path, 0) as w:
        w.append([pred("a", extracted="B"), pred("b", error="OOM")])
    with store.ShardWriter(tmp_path, 1) as w:
        w.append([pred("a", error="OOM"), pred("b", extracted="C")])
    got = store.load_predictions(tmp_path)
    assert (got["a"].extracted, got["a"].error) == ("B", None)
    assert (got["b"].extracted, got["b"].error) == ("C", None)


def test_merged_file_in_sample_order_and_missing_is_an_error(tmp_path):
    preds = {s: pred(s) for s in ["b", "a", "c"]}
    out = store.write_merged(tmp_path, ["c", "a", "b"], preds)
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ["c", "a", "b"]
    with pytest.raises(RuntimeError, match="1 samples have no prediction.*'zz'"):
        store.write_merged(tmp_path, ["a", "zz"], preds)


def test_set_aside_moves_old_shards(tmp_path):
    with store.ShardWriter(tmp_path, 0) as w:
        w.append([pred("a")])
    moved = store.set_aside_shards(tmp_path)
    assert moved.name == "shards.old1" and store.load_predictions(tmp_path) == {}


def test_merge_uses_a_unique_temp_file_beside_the_target(tmp_path):
    """Two writers never share a temp name: a stale ``predictions.jsonl.tmp`` (here a directory another
    invocation left) neither blocks the merge nor is written through."""
    (tmp_path / "predictions.jsonl.tmp").mkdir()
    preds = {s: pred(s) for s in ["a", "b"]}
    out = store.write_merged(tmp_path, ["a", "b"], preds)
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ["a", "b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["predictions.jsonl", "predictions.jsonl.tmp"]
