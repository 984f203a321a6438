"""The embedded synthetic sample: deterministic bytes, official-JSON schema, loads into 40 Samples."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

from PIL import Image

from awaker_eval.config.schema import BenchmarkConfig
from awaker_eval.resolve import load_samples
from awaker_eval.tasks.mme_realworld.synthetic import ensure_synthetic_benchmark, write_synthetic_benchmark
from awaker_eval.data.taxonomy import MME_SUBTASKS

OFFICIAL_KEYS = ["Question_id", "Image", "Text", "Question Type", "Answer choices", "Ground truth", "Task",
                 "Subtask", "Category", "Dataset"]


def tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def test_generation_is_deterministic(tmp_path):
    write_synthetic_benchmark(tmp_path / "a", n=12, seed=3)
    write_synthetic_benchmark(tmp_path / "b", n=12, seed=3)
    write_synthetic_benchmark(tmp_path / "c", n=12, seed=4)
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b") != tree_digest(tmp_path / "c")
    assert len(list((tmp_path / "a" / "synthetic").glob("*.jpg"))) == 9  # items 3, 7, 11 reuse an image


def test_official_schema(tmp_path):
    rows = json.loads(write_synthetic_benchmark(tmp_path, n=40, seed=0).read_text(encoding="utf-8"))
    assert len(rows) == 40 and all(list(r) == OFFICIAL_KEYS for r in rows)
    for r in rows:
        assert [o[:4] for o in r["Answer choices"]] == ["(A) ", "(B) ", "(C) ", "(D) ", "(E) "]
        assert r["Ground truth"] in "ABCDE" and r["Question Type"] == "Multiple Choice"
        assert r["Task"] in ("Perception", "Reasoning") and r["Subtask"] in MME_SUBTASKS
    assert Counter(r["Task"] for r in rows) == {"Perception": 24, "Reasoning": 16}
    assert {r["Subtask"] for r in rows} == set(MME_SUBTASKS)
    assert "E" in {r["Ground truth"] for r in rows}  # E is a legitimate answer, as in the real set


def test_loads_into_40_samples_through_the_official_loader(tmp_path):
    samples = load_samples(BenchmarkConfig(cache_dir=str(tmp_path)))
    assert len(samples) == 40 and len({s.id for s in samples}) == 40
    assert samples[0].id == "Perception/Remote Sensing/count/0000" and samples[0].answer == "E"
    assert samples[2].question == "What is the word written in the image?" and samples[2].category == "text_recog"
    assert samples[0].images[0].load().size == (448, 336)
    assert len(load_samples(BenchmarkConfig(cache_dir=str(tmp_path), sample_size=40, limit=5))) == 5


def test_some_images_carry_two_questions(tmp_path):
    samples = load_samples(BenchmarkConfig(cache_dir=str(tmp_path)))
    per_image = Counter(s.images[0].key for s in samples)
    assert len(per_image) == 30 and sorted(Counter(per_image.values()).items()) == [(1, 20), (2, 10)]
    first, again = samples[2], samples[3]
    assert again.images[0].key == first.images[0].key and again.cluster == first.cluster
    assert again.question == "Look at the image once more. " + first.question and again.id.endswith("/0003")
    assert again.answer == first.answer and again.choices == first.choices


def test_cache_is_written_once(tmp_path):
    folder = ensure_synthetic_benchmark(tmp_path, n=10)
    stamp = (folder / "MME_RealWorld.json").stat().st_mtime_ns
    assert ensure_synthetic_benchmark(tmp_path, n=10) == folder
    assert (folder / "MME_RealWorld.json").stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]  # no temp folders left behind


def test_image_size_ranges(tmp_path):
    write_synthetic_benchmark(tmp_path, n=4, seed=0, image_size=((1000, 2000), (1000, 1500)))
    sizes = [Image.open(p).size for p in sorted((tmp_path / "synthetic").glob("*.jpg"))]
    assert all(1000 <= w <= 2000 and 1000 <= h <= 1500 for w, h in sizes) and len(set(sizes)) > 1
