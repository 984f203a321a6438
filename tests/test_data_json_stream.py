"""Base64 JSON arrays stream into a memory-mapped arrow table in bounded record batches (the real files are one
2-4+ GiB array each); lowered thresholds here exercise the same code path as a multi-GB file."""

from __future__ import annotations

import json

import pytest
from test_data_mme_realworld import check_table_samples, table_rows

from awaker_eval.config.schema import BenchmarkConfig
from awaker_eval.data import json_stream
from awaker_eval.data.errors import DataError
from awaker_eval.resolve import load_samples


@pytest.fixture
def tiny_blocks(monkeypatch):
    """100 bytes per record batch, 97 per read: every element crosses read windows and batches."""
    monkeypatch.setattr(json_stream, "DEFAULT_BLOCK_BYTES", 100)
    monkeypatch.setattr(json_stream, "READ_BYTES", 97)


def write_arrays(folder, *arrays, indent=None):
    folder.mkdir()
    for i, rows in enumerate(arrays):
        (folder / f"MME_RealWorld_base64_{i}.json").write_text(json.dumps(rows, indent=indent), encoding="utf-8")
    return folder


def test_streamed_table_is_chunked_and_loads_like_the_whole_file(tmp_path, tiny_blocks):
    rows = table_rows()
    rows[0]["extra"] = "x"  # a key later elements lack: null there
    folder = write_arrays(tmp_path / "b64", rows[:1], rows[1:], indent=2)  # two files, in name order
    cfg = BenchmarkConfig(name="mme_test", layout="base64_json", source=str(folder), cache_dir=str(tmp_path / "c"))
    samples = load_samples(cfg)
    check_table_samples(samples)
    table = samples[0].images[0].loader.dataset.data
    assert table.column("image").num_chunks == 3  # one record batch per element at this threshold
    assert [str(t) for t in table.schema.types][:4] == ["int64", "string", "string", "list<item: string>"]
    assert table.column("extra").to_pylist() == ["x", None, None]
    cached = list((tmp_path / "c" / "json_arrays").glob("*.arrow"))
    assert len(cached) == 1
    assert [s.id for s in load_samples(cfg)] == ["10", "11", "12"]  # second load: the cached table
    assert list((tmp_path / "c" / "json_arrays").glob("*.arrow")) == cached


def test_iter_json_array_matches_json_loads_across_read_windows(tmp_path):
    rows = [{"index": i, "image": "x" * (i * 53), "q": "é" * i, "n": 1.5 * i, "ok": i % 2 == 0, "opts": ["(A) 1"]}
            for i in range(40)]
    path = tmp_path / "a.json"
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    for read_bytes in (1, 7, 4096):
        assert list(json_stream.iter_json_array(path, read_bytes=read_bytes)) == rows


@pytest.mark.parametrize("text,message", [
    ('[{"a": 1},]', r"element 1 of the JSON array is not valid JSON \(Expecting value\)"),
    ('[{"a": 1} {"a": 2}]', r"expected ',' or '\]' after element 0 of the JSON array, got '\{'"),
    ('{"a": 1}', "not a JSON array"),
    ('[{"a": 1}] trailing', "unexpected data after the end of the JSON array"),
    ('[{"a": 1}, 5]', r"element 1: expected an object, got int"),
    ('[{"a": 1}, {"a": "x"}]', r"element 1: 'a' is 'x' but the first element's 'a' is of type int64"),
    ('[{"a": 1}, {"b": 2}]', r"element 1: key\(s\) \['b'\] not in the first element's keys \['a'\]"),
    ("[]", "the JSON array\\(s\\) hold no items"),
])
def test_broken_arrays_name_file_and_element(tmp_path, tiny_blocks, text, message):
    folder = tmp_path / "b"
    folder.mkdir()
    (folder / "x.json").write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=message) as err:
        json_stream.open_json_arrays([folder / "x.json"], tmp_path / "cache")
    assert "x.json" in str(err.value)
    assert not list((tmp_path / "cache").glob("*"))  # nothing half-written is left to be reused


def test_oversized_element_is_refused_without_reading_the_rest(tmp_path, monkeypatch):
    monkeypatch.setattr(json_stream, "MAX_ELEMENT_BYTES", 1000)
    path = tmp_path / "x.json"
    path.write_text('[{"image": "' + "A" * 5000 + '"}]', encoding="utf-8")
    with pytest.raises(DataError, match=r"x.json: element 0 of the JSON array does not parse within 1,000 char"):
        list(json_stream.iter_json_array(path, read_bytes=100))
