"""MMBench loaders: VLMEvalKit TSV with circular copies and image references, the HF mirrors' layouts."""

from __future__ import annotations

import base64
import io

import datasets
import pandas as pd
import pytest
from PIL import Image

from awaker_eval.config.schema import BenchmarkConfig
from awaker_eval.data.errors import DataError
from awaker_eval.resolve import load_samples
from awaker_eval.data.taxonomy import l2_abbreviation

NAN = float("nan")


def b64png(w: int, h: int) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (0, 90, 200)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def circular_rows(with_answers: bool = True) -> list[dict]:
    """Question 7 (4 options, 4 passes, copies reference row 7's image) and question 9 (2 options, a hint)."""
    q7 = [("a dog", "a cat", "a bird", "a fish"), ("a cat", "a bird", "a fish", "a dog"),
          ("a bird", "a fish", "a dog", "a cat"), ("a fish", "a dog", "a cat", "a bird")]
    rows = [{"index": 7 + k * 1_000_000, "question": "What animal is shown?", "hint": NAN,
             "A": a, "B": b, "C": c, "D": d, "answer": "BADC"[k], "category": "image_topic",
             "l2-category": "coarse_perception", "image": b64png(32, 16) if k == 0 else "7",
             "source": "synthetic", "split": "dev"} for k, (a, b, c, d) in enumerate(q7)]
    rows += [{"index": 9 + k * 1_000_000, "question": "Is it day?", "hint": "Look at the sky.",
              "A": ab[0], "B": ab[1], "C": NAN, "D": NAN, "answer": "AB"[k], "category": "ocr",
              "l2-category": "finegrained_perception (instance-level)", "image": b64png(8, 8) if k == 0 else "9",
              "source": "synthetic", "split": "dev"} for k, ab in enumerate([("yes", "no"), ("no", "yes")])]
    if not with_answers:
        for r in rows:
            del r["answer"]
    return rows


def write_tsv(path, rows) -> str:
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
    return str(path)


def cfg(tmp_path, **kw) -> BenchmarkConfig:
    base = dict(name="mmb", kind="mmbench", layout="tsv", version="v11", split="dev",
                cache_dir=str(tmp_path / "cache"))
    return BenchmarkConfig(**{**base, **kw})


def test_tsv_with_circular_copies_and_image_references(tmp_path):
    samples = load_samples(cfg(tmp_path, source=write_tsv(tmp_path / "MMBench_DEV_EN_V11.tsv", circular_rows())))
    assert [s.id for s in samples] == ["7", "1000007", "2000007", "3000007", "9", "1000009"]
    assert [s.group for s in samples] == ["7"] * 4 + ["9"] * 2
    assert [s.cluster for s in samples] == [s.group for s in samples]
    assert [s.answer for s in samples] == list("BADCAB")
    assert [s.extra["circular_pass"] for s in samples] == [0, 1, 2, 3, 0, 1]
    s7, s9 = samples[1], samples[4]
    assert [(c.letter, c.text) for c in s7.choices] == [("A", "a cat"), ("B", "a bird"), ("C", "a fish"),
                                                         ("D", "a dog")]
    assert [c.letter for c in s9.choices] == ["A", "B"] and s9.hint == "Look at the sky." and s7.hint is None
    assert (s7.category, s7.l2_category) == ("image_topic", "coarse_perception")
    assert l2_abbreviation(s9.l2_category) == "FP-S"
    assert {s.images[0].key for s in samples[:4]} == {"7"} and samples[5].images[0].key == "9"
    assert samples[3].images[0].load().size == (32, 16) and samples[5].images[0].load().size == (8, 8)


def test_test_split_has_no_answers(tmp_path):
    path = write_tsv(tmp_path / "t.tsv", circular_rows(with_answers=False))
    samples = load_samples(cfg(tmp_path, split="test", source=path))
    assert len(samples) == 6 and all(s.answer is None for s in samples)


def test_limit_keeps_whole_circular_questions(tmp_path):
    """A smoke run's limit counts questions: a question is never scored on a subset of its passes."""
    rows = circular_rows()
    rows = rows[0::4][:1] + rows[4:5] + rows[1:4] + rows[5:]  # TSV order: every pass 0 first, then the copies
    samples = load_samples(cfg(tmp_path, source=write_tsv(tmp_path / "t.tsv", rows), limit=1))
    assert [s.id for s in samples] == ["7", "1000007", "2000007", "3000007"]
    assert len(load_samples(cfg(tmp_path, source=write_tsv(tmp_path / "t.tsv", rows), limit=2))) == 6


def test_literal_nan_answer_is_a_hidden_answer(tmp_path):
    """Parquet mirrors store a hidden answer as the text "nan": None on TEST, a named error on DEV."""
    rows = [dict(r, answer="nan") for r in circular_rows()]
    pd.DataFrame(rows).to_parquet(tmp_path / "test-00000.parquet")
    samples = load_samples(cfg(tmp_path, layout="hf_m4", version="v10", split="test", source=str(tmp_path)))
    assert [s.answer for s in samples] == [None] * 6
    with pytest.raises(DataError, match=r"row 0 \(index 7\): no ground-truth answer"):
        load_samples(cfg(tmp_path, layout="hf_m4", version="v10", split="dev", source=str(tmp_path)))


@pytest.mark.parametrize("edit,message", [
    (lambda r: r[2].update(answer=NAN), r"row 2 \(index 2000007\): no ground-truth answer \(required on this split\)"),
    (lambda r: r[4].update(answer="C"), r"row 4 \(index 9\): answer 'C' is not one of the option letters"),
    (lambda r: r[1].update(C="a cat"), r"row 1 \(index 1000007\): duplicated option text\(s\) \['a cat'\]"),
    (lambda r: r[1].update(image="12345"), r"row 1 \(index 1000007\): image cell '12345' is neither an image nor"),
    (lambda r: r[3].update(index=7), r"duplicated 'index' values \[7\]"),
])
def test_bad_rows_name_file_and_row(tmp_path, edit, message):
    """Under strict, a duplicated option text (upstream accepts it: test_data_odd_rows.py) is refused like these."""
    rows = circular_rows()
    edit(rows)
    path = write_tsv(tmp_path / "bad.tsv", rows)
    with pytest.raises(DataError, match=message) as err:
        load_samples(cfg(tmp_path, source=path, strict=True))
    assert "bad.tsv" in str(err.value)


def test_lmms_lab_mirror_layout(tmp_path):
    """lmms-lab/MMBench: parquet with a datasets.Image column, ``L2-category``, "nan" text for absent options."""
    rows = circular_rows()[4:]  # the 2-option question; this mirror has no image references
    for r in rows:
        r["image"] = {"bytes": base64.b64decode(b64png(8, 8)), "path": None}
        r["L2-category"] = r.pop("l2-category")
        r.update(C="nan", D="nan")
    features = datasets.Features({k: datasets.Image() if k == "image" else
                                  datasets.Value("int64" if k == "index" else "string") for k in rows[0]})
    ds = datasets.Dataset.from_list(rows, features=features)
    (tmp_path / "cn").mkdir()
    ds.to_parquet(str(tmp_path / "cn" / "dev-00000-of-00001.parquet"))
    samples = load_samples(cfg(tmp_path, layout="hf", version="v10", language="cn", source=str(tmp_path / "cn")))
    assert [s.id for s in samples] == ["9", "1000009"] and [c.letter for c in samples[0].choices] == ["A", "B"]
    assert samples[0].l2_category == "finegrained_perception (instance-level)" and samples[0].language == "cn"
    assert samples[1].images[0].load().size == (8, 8)


def test_huggingfacem4_mirror_layout(tmp_path):
    """HuggingFaceM4/MMBench: the TSV columns as parquet strings (base64 images, index references)."""
    df = pd.DataFrame(circular_rows())
    df.to_parquet(tmp_path / "validation-00000.parquet")
    samples = load_samples(cfg(tmp_path, layout="hf_m4", version="v10", source=str(tmp_path)))
    assert len(samples) == 6 and samples[2].images[0].key == "7" and samples[2].images[0].load().size == (32, 16)


def test_mirrors_refuse_releases_they_do_not_hold(tmp_path):
    with pytest.raises(DataError, match=r"lmms-lab/MMBench mirrors MMBench v1.0 \['cn', 'en'\] only; use layout=tsv "
                                        r"for MMBench_DEV_EN_V11"):
        load_samples(cfg(tmp_path, layout="hf", version="v11"))
    with pytest.raises(DataError, match=r"version v10\|v11, split dev\|test, language en\|cn; got 'v11', 'val'"):
        load_samples(cfg(tmp_path, split="val"))


def test_default_source_downloads_the_vlmevalkit_tsv_once(tmp_path, monkeypatch):
    """source=null resolves to <TSV_URL_BASE><name>.tsv (here a local HTTP server) and is cached."""
    import functools
    import http.server
    import threading

    from awaker_eval.tasks.mmbench import loader as mmbench

    (tmp_path / "www").mkdir()
    write_tsv(tmp_path / "www" / "MMBench_DEV_CN.tsv", circular_rows())
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "www"))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setattr(mmbench, "TSV_URL_BASE", f"http://127.0.0.1:{server.server_port}/")
        samples = load_samples(cfg(tmp_path, version="v10", language="cn"))
    finally:
        server.shutdown()
    assert [s.id for s in samples] == ["7", "1000007", "2000007", "3000007", "9", "1000009"]
    assert samples[0].language == "cn" and samples[2].images[0].load().size == (32, 16)
