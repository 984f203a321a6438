"""Parquet shards read in place (issue 11 item 5): the same samples, prompts and image bytes as the ``datasets``
path, without writing an arrow cache; random access across files and row groups; bad files are clear errors."""

from __future__ import annotations

import base64
import io
import pickle
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from awaker_eval.config.schema import BenchmarkConfig
from awaker_eval.resolve import load_samples
from awaker_eval.tasks.mme_realworld import loader as mme_realworld
from awaker_eval.data.errors import DataError
from awaker_eval.data.parquet_inplace import ParquetTable, open_parquet_inplace, parquet_files, train_split
from awaker_eval.data.tables import TableSource, open_table


def png_b64(i: int) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (8 + i, 6 + i), (i * 20 % 256, 40, 90)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def lmms_rows(start: int, n: int) -> dict[str, list]:
    """Rows in the lmms-eval MME-RealWorld parquet layout (``bytes`` = base64 image, options as a list)."""
    ids = list(range(start, start + n))
    return {
        "index": ids,
        "question": [f"What is shown in region {i}?" for i in ids],
        "multi-choice options": [[f"(A) cat {i}", f"(B) dog {i}", "(C) bird", "(D) fish", "(E) none"] for i in ids],
        "answer": ["ABCDE"[i % 5] for i in ids],
        "category": ["Perception/Remote Sensing" if i % 2 else "Reasoning/Monitoring" for i in ids],
        "l2-category": [f"fine {i % 3}" for i in ids],
        "bytes": [png_b64(i) for i in ids],
    }


@pytest.fixture
def shards(tmp_path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    pq.write_table(pa.table(lmms_rows(0, 7)), folder / "train-00000-of-00002.parquet", row_group_size=3)
    pq.write_table(pa.table(lmms_rows(7, 5)), folder / "train-00001-of-00002.parquet", row_group_size=2)
    return folder


def summary(samples):
    return [(s.id, s.question, [(c.letter, c.text, c.raw) for c in s.choices], s.answer, s.task, s.subtask,
             s.category, s.images[0].key, s.images[0].encoded_bytes()) for s in samples]


def test_in_place_samples_equal_the_datasets_path(shards, tmp_path):
    via_datasets = mme_realworld.load_table(open_table(TableSource(str(shards), cache_dir=str(tmp_path / "hf"))),
                                            "mme_realworld", "en", None, str(shards))
    table = ParquetTable(parquet_files(shards))
    in_place = mme_realworld.load_table(table, "mme_realworld", "en", None, str(shards))
    assert summary(in_place) == summary(via_datasets)
    assert len(in_place) == 12 and in_place[11].images[0].encoded_bytes() == base64.b64decode(png_b64(11))
    assert table.disk_bytes == sum(f.stat().st_size for f in shards.iterdir())


def test_registry_parquet_layout_writes_no_arrow_cache(shards, tmp_path):
    cache = tmp_path / "cache"
    cfg = BenchmarkConfig(name="mme_realworld", layout="parquet", source=str(shards), cache_dir=str(cache),
                          split="test")
    samples = load_samples(cfg)
    assert [s.id for s in samples] == [str(i) for i in range(12)]
    assert Image.open(io.BytesIO(samples[8].images[0].encoded_bytes())).size == (16, 14)
    assert not cache.exists() or not list(cache.rglob("*.arrow"))


def test_random_access_across_files_and_row_groups_with_a_bounded_cache(shards):
    table = ParquetTable(parquet_files(shards), cache_bytes=1)  # at most one row group kept
    assert table.num_rows == 12 and [table.locate(r) for r in (0, 3, 6, 7, 11)] == [
        (0, 0, 0), (0, 1, 0), (0, 2, 0), (1, 0, 0), (1, 2, 0)]
    for row in (11, 0, 5, 7, 5):
        assert table.data.column("bytes")[row].as_py() == png_b64(row)
        assert len(table._cache) == 1
    with pytest.raises(IndexError, match="row 12 is outside 12 rows"):
        table.cell(12, "bytes")


def test_pickles_as_file_paths(shards):
    table = ParquetTable(parquet_files(shards))
    table.cell(4, "bytes")
    blob = pickle.dumps(table)
    assert len(blob) < 2000  # no cached row group, no open file travels to a worker
    assert pickle.loads(blob).cell(9, "question").as_py() == "What is shown in region 9?"


def test_bad_files_are_clear_errors(shards, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "train-0.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DataError, match=r"train-0\.parquet: not a readable parquet file"):
        ParquetTable(parquet_files(broken))
    other = tmp_path / "other"
    other.mkdir()
    pq.write_table(pa.table({"index": [1]}), other / "a.parquet")
    pq.write_table(pa.table({"index": ["1"]}), other / "b.parquet")
    with pytest.raises(DataError, match=r"b\.parquet: columns \['index'\] differ from .*a\.parquet's"):
        ParquetTable(parquet_files(other))
    with pytest.raises(DataError, match=r"no \.parquet files match \['\*'\]"):
        parquet_files(tmp_path / "broken" / "..")
    with pytest.raises(DataError, match=r"no column\(s\) \['image'\]"):
        ParquetTable(parquet_files(shards), columns=["image"])


def test_hub_snapshot_reads_the_train_split_in_place(tmp_path, monkeypatch):
    snap = tmp_path / "snapshot"
    (snap / "data").mkdir(parents=True)
    pq.write_table(pa.table(lmms_rows(0, 2)), snap / "data" / "train-00000-of-00001.parquet")
    pq.write_table(pa.table(lmms_rows(5, 1)), snap / "data" / "test-00000-of-00001.parquet")
    calls = []

    def fake_snapshot_download(repo_id, **kw):
        calls.append((repo_id, kw))
        return str(snap)

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    table = open_parquet_inplace("org/MME-RealWorld-Lmms-eval", revision="abc123", cache_dir="/c")
    assert calls == [("org/MME-RealWorld-Lmms-eval", {"repo_type": "dataset", "revision": "abc123",
                                                      "cache_dir": "/c",
                                                      "allow_patterns": ["*.parquet", "**/*.parquet"]})]
    assert table["index"] == [0, 1]

    def offline(repo_id, **kw):
        raise OSError("hub unreachable")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(DataError, match=r"^cannot load 'org/x' \(revision None, parquet files\): OSError: hub "
                                        r"unreachable\. Point benchmark.source at a local file or folder if the hub "
                                        r"is unreachable, or run `awaker-eval prepare` online first\.$"):
        open_parquet_inplace("org/x")


def test_train_split_follows_file_names(tmp_path):
    root = tmp_path
    assert train_split([str(root / "part-0.parquet"), str(root / "part-1.parquet")], root) == [
        str(root / "part-0.parquet"), str(root / "part-1.parquet")]
    with pytest.raises(DataError, match="no parquet file is named for split 'train'"):
        train_split([str(root / "data" / "test-0.parquet")], root)


def test_run_json_data_footprint_counts_the_files_read(shards, tmp_path):
    from awaker_eval.engine.metadata import data_footprint, peak_rss_bytes

    cfg = BenchmarkConfig(name="mme_realworld", layout="parquet", source=str(shards), split="test",
                          cache_dir=str(tmp_path / "cache"))
    sizes = sorted(f.stat().st_size for f in shards.iterdir())
    assert data_footprint(load_samples(cfg)) == {
        "disk_bytes": sum(sizes), "by_kind": {"parquet_in_place": {"files": 2, "bytes": sum(sizes)}}}
    via_datasets = mme_realworld.load_table(open_table(TableSource(str(shards), cache_dir=str(tmp_path / "hf"))),
                                            "mme_realworld", "en")
    arrow = data_footprint(via_datasets)["by_kind"]["arrow_cache"]
    assert arrow["files"] >= 1 and arrow["bytes"] > 0  # the second copy the in-place reader avoids
    assert peak_rss_bytes() > 10 * 2**20
