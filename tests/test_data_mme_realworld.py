"""MME-RealWorld loaders on small files in every layout, written here; bad input fails naming the row."""

from __future__ import annotations

import base64
import io
import json
import pickle

import pandas as pd
import pytest
from PIL import Image

from awaker_eval.config.schema import BenchmarkConfig
from awaker_eval.data.errors import DataError
from awaker_eval.data.images import load_images
from awaker_eval.resolve import load_samples
from awaker_eval.data.taxonomy import fine_category
from awaker_eval.types import ImageLoadError

OPTS = ["(A) 458", "(B) 457", "(C) 456", "(D) 455", "(E) This image doesn't feature the data."]


def png(w: int, h: int, colour=(200, 10, 10)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), colour).save(buf, format="PNG")
    return buf.getvalue()


def b64png(w: int, h: int) -> str:
    return base64.b64encode(png(w, h)).decode()


def cfg(tmp_path, **kw) -> BenchmarkConfig:
    return BenchmarkConfig(name="mme_test", cache_dir=str(tmp_path / "cache"), **kw)


def official_rows() -> list[dict]:
    return [
        {"Question_id": "perception/diagram_and_table/diagram/0558", "Image": "dt/a.png",
         "Text": "What is the data?", "Question Type": "Multiple Choice", "Answer choices": OPTS,
         "Ground truth": "B", "Category": "diagram", "Subtask": "Diagram and Table", "Task": "Perception"},
        {"Question_id": "perception/monitoring/Vehicle/counting/0310", "Image": "mo/b.png", "Text": "How many?",
         "Question type": "Multiple Choice", "Answer choices": ["(A) 13", "(B) 90", "(C) 77", "(D) 6"],
         "Ground truth": "D", "Category": "vehicle/attribute/color", "Subtask": "Monitoring", "Task": "Perception"},
        {"Question_id": "reasoning/diagram_and_table/diagram/0020", "Image": "dt/a.png", "Text": "Which?",
         "Question Type": "Multiple Choice", "Answer choices": OPTS, "Ground truth": "E", "Category": "diagram",
         "Subtask": "Diagram and Table", "Task": "Reasoning", "Output": "E"},
    ]


def write_official(tmp_path, rows, images=True):
    root = tmp_path / "images"
    if images:
        (root / "dt").mkdir(parents=True)
        (root / "mo").mkdir(parents=True)
        (root / "dt" / "a.png").write_bytes(png(30, 20))
        (root / "mo" / "b.png").write_bytes(png(10, 40))
    else:
        root.mkdir()
    path = tmp_path / "MME_RealWorld.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path, root


def test_official_json_with_image_folder(tmp_path):
    path, root = write_official(tmp_path, official_rows())
    samples = load_samples(cfg(tmp_path, layout="official_json", source=str(path), image_root=str(root)))
    assert [s.id for s in samples] == [r["Question_id"] for r in official_rows()]
    s0, s1, s2 = samples
    assert (s0.task, s0.subtask, s0.category, s0.answer) == ("Perception", "Diagram and Table", "diagram", "B")
    assert [c.letter for c in s0.choices] == list("ABCDE")
    assert s0.choices[4].text == "This image doesn't feature the data."
    assert s0.choices[1].raw == "(B) 457" and s0.choices[1].text == "457"
    assert [c.letter for c in s1.choices] == list("ABCD")  # four options stay four
    assert s1.category == "vehicle/attribute/color" and fine_category(s1.category) == "vehicle/attribute"
    assert s1.extra["question_type"] == "Multiple Choice"  # the template's "Question type" spelling
    assert (s2.task, s2.answer, s2.extra["Output"]) == ("Reasoning", "E", "E")
    assert s0.cluster == s2.cluster == "dt/a.png" != s1.cluster  # questions sharing an image
    assert s0.group == s0.id and s0.language == "en" and s0.benchmark == "mme_test"
    assert s1.images[0].load().size == (10, 40)


def test_official_json_repeated_question_ids_get_row_suffixes(tmp_path):
    rows = official_rows()
    rows[2]["Question_id"] = rows[0]["Question_id"]
    path, root = write_official(tmp_path, rows)
    ids = [s.id for s in load_samples(cfg(tmp_path, layout="official_json", source=str(path), image_root=str(root)))]
    assert ids == [rows[0]["Question_id"] + "#0", rows[1]["Question_id"], rows[0]["Question_id"] + "#2"]


@pytest.mark.parametrize("field,value,message", [
    ("Task", "Perceptoin", r"row 1 \(perception/monitoring/Vehicle/counting/0310\): unknown task 'Perceptoin'"),
    ("Subtask", "Sports", r"row 1 .*unknown subtask 'Sports'"),
    ("Ground truth", None, r"row 1 .*no ground-truth answer"),
    ("Ground truth", "E", r"row 1 .*answer 'E' is not one of the option letters \['A', 'B', 'C', 'D'\]"),
    ("Answer choices", ["(A) 1", "(B) 2", "(B) 3"], r"row 1 .*duplicated option letter\(s\) \['B'\]"),
    ("Answer choices", ["(A) 1", "(B) 2", "(C) 2"], r"row 1 .*duplicated option text\(s\) \['2'\]"),
    ("Answer choices", ["A. 1", "B. 2"], r"row 1 .*option 'A. 1' is not of the form"),
])
def test_official_json_bad_rows_name_file_and_row(tmp_path, field, value, message):
    """Under strict, duplicated option letters / texts (upstream accepts them: test_data_odd_rows.py) are refused
    like the rest."""
    rows = official_rows()
    rows[1][field] = value
    path, root = write_official(tmp_path, rows)
    with pytest.raises(DataError, match=message) as err:
        load_samples(cfg(tmp_path, layout="official_json", source=str(path), image_root=str(root), strict=True))
    assert str(path) in str(err.value)


def test_missing_image_file_fails_at_load_time_naming_the_sample(tmp_path):
    path, root = write_official(tmp_path, official_rows())
    (root / "mo" / "b.png").unlink()
    samples = load_samples(cfg(tmp_path, layout="official_json", source=str(path), image_root=str(root)))
    with pytest.raises(ImageLoadError, match=r"sample 'perception/monitoring/Vehicle/counting/0310' .*mo/b.png"):
        load_images(samples[1])
    assert load_images(samples[0])[0].size == (30, 20)


def test_wrong_image_root_is_refused_up_front(tmp_path):
    path, root = write_official(tmp_path, official_rows(), images=False)
    with pytest.raises(DataError, match="none of the 3 images exist"):
        load_samples(cfg(tmp_path, layout="official_json", source=str(path), image_root=str(root)))
    with pytest.raises(DataError, match="needs benchmark.image_root"):
        load_samples(cfg(tmp_path, layout="official_json", source=str(path)))


def table_rows(n: int = 3) -> list[dict]:
    cats = ["Perception/Autonomous_Driving", "Reasoning/Monitoring", "Perception/OCR with Complex Context"]
    return [{"index": 10 + i, "image": b64png(20 + i, 10), "question": f"Q{i}?", "multi-choice options": OPTS,
             "answer": "ABE"[i % 3], "category": cats[i % 3], "l2-category": ["Object_Count", "calculate",
                                                                              "license"][i % 3]} for i in range(n)]


def check_table_samples(samples, lang="en"):
    assert [s.id for s in samples] == ["10", "11", "12"]
    assert [(s.task, s.subtask) for s in samples] == [
        ("Perception", "Autonomous_Driving"), ("Reasoning", "Monitoring"), ("Perception", "OCR with Complex Context")]
    assert [s.category for s in samples] == ["Object_Count", "calculate", "license"]
    assert [s.answer for s in samples] == ["A", "B", "E"]
    assert [c.raw for c in samples[0].choices] == OPTS and samples[0].language == lang
    assert [s.images[0].load().size for s in samples] == [(20, 10), (21, 10), (22, 10)]
    assert all(s.images[0].b64 is None and s.images[0].data is None for s in samples)  # nothing held in memory


def test_base64_json_layout_is_lazy_and_picklable(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "MME_RealWorld_base64_0.json").write_text(json.dumps(table_rows()), encoding="utf-8")
    samples = load_samples(cfg(tmp_path, layout="base64_json", source=str(tmp_path / "data")))
    check_table_samples(samples)
    blob = pickle.dumps(samples)
    assert len(blob) < 20_000  # the dataset pickles as a file reference
    assert pickle.loads(blob)[2].images[0].load().size == (22, 10)


def test_lmms_eval_parquet_layout(tmp_path):
    rows = table_rows()
    for r in rows:
        r["bytes"] = r.pop("image")
    pd.DataFrame(rows).to_parquet(tmp_path / "train-00000-of-00001.parquet")
    samples = load_samples(cfg(tmp_path, layout="parquet", source=str(tmp_path), data_files="*.parquet"))
    check_table_samples(samples)


def test_vlmevalkit_tsv_layout_with_option_block_and_image_reference(tmp_path):
    rows = table_rows()
    for r in rows:
        r["multi-choice options"] = "选项如下所示:\n" + "\n".join(r["multi-choice options"])
        r.update({letter: opt[4:] for letter, opt in zip("ABCDE", OPTS)})
    rows[2]["image"] = "10"  # VLMEvalKit: a short image cell is another row's index
    path = tmp_path / "MME-RealWorld-CN.tsv"
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
    samples = load_samples(cfg(tmp_path, layout="tsv", language="cn", source=str(path)))
    assert [c.raw for c in samples[1].choices] == OPTS
    assert samples[2].images[0].key == samples[0].images[0].key == "10" == samples[2].cluster
    assert samples[2].images[0].load().size == (20, 10)


def test_table_bad_inputs(tmp_path):
    rows = table_rows()
    rows[1]["category"] = "Perception"  # no subtask
    rows[2]["image"] = base64.b64encode(b"not an image at all" * 10).decode()
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.json").write_text(json.dumps(rows), encoding="utf-8")
    with pytest.raises(DataError, match=r"row 1 \(index 11\): 'category' 'Perception' is not '<Task>/<Subtask>'"):
        load_samples(cfg(tmp_path, layout="base64_json", source=str(tmp_path / "a")))
    rows[1]["category"] = "Perception/Remote Sensing"
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.json").write_text(json.dumps(rows), encoding="utf-8")
    samples = load_samples(cfg(tmp_path, layout="base64_json", source=str(tmp_path / "b")))
    with pytest.raises(ImageLoadError, match=r"sample '12' of mme_test: image '12': cannot decode"):
        load_images(samples[2])


def test_unknown_layout_lists_the_valid_ones(tmp_path):
    with pytest.raises(DataError, match=r"unknown benchmark kind/layout 'mme_realworld'/'zip'; valid: "
                                        r"mme_realworld/synthetic, mme_realworld/official_json, .*mme_realworld/tsv"):
        load_samples(cfg(tmp_path, layout="zip"))


def test_base64_json_from_the_hub_downloads_the_pinned_files(tmp_path, monkeypatch):
    """The hub Base64 release is fetched with ``snapshot_download`` at the pinned revision and read like local
    files (a misspelt call once turned every such run into 'cannot download ... NameError')."""
    import huggingface_hub

    (tmp_path / "snap" / "MME-RealWorld").mkdir(parents=True)
    (tmp_path / "snap" / "MME-RealWorld" / "part0.json").write_text(json.dumps(table_rows()), encoding="utf-8")
    asked = {}

    def fake_snapshot(repo, **kw):
        asked.update(repo=repo, **kw)
        return str(tmp_path / "snap")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
    samples = load_samples(cfg(tmp_path, layout="base64_json"))
    check_table_samples(samples)
    assert asked["repo"] == "yifanzhang114/MME-RealWorld-Base64" and asked["repo_type"] == "dataset"
    assert asked["allow_patterns"] == "MME-RealWorld/*.json" and "revision" in asked  # no pin known: main


def test_localized_tsv_reads_image_files_next_to_it(tmp_path):
    rows = table_rows()
    for i, r in enumerate(rows):
        del r["image"]
        r["image_path"] = f"imgs/{i}.png"
        r["multi-choice options"] = "The choices are listed below:\n" + "\n".join(OPTS)
    (tmp_path / "imgs").mkdir()
    for i in range(3):
        (tmp_path / "imgs" / f"{i}.png").write_bytes(png(20 + i, 10))
    path = tmp_path / "MME-RealWorld_local.tsv"
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
    check_table_samples(load_samples(cfg(tmp_path, layout="tsv", source=str(path))))
