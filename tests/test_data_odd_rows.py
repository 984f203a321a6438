"""Odd rows that the reference toolkits accept (benchmarks.md section 9), in each layout they occur in: loaded as
upstream loads them, the prompt byte-exact, counted in ``data_warnings``, an error naming file and row under
``benchmark.strict=true``. Plus the input checks of issue 9: two options at least, image paths confined to
the data's folder, incomplete circular questions."""

from __future__ import annotations

import base64
import json
import re

import datasets
import pandas as pd
import pytest
from test_data_mmbench import circular_rows, write_tsv
from test_data_mme_realworld import OPTS, b64png, official_rows, png, table_rows, write_official

from awaker_eval.config.schema import BenchmarkConfig
from awaker_eval.data.errors import DataError
from awaker_eval.resolve import load_benchmark
from awaker_eval.prompts import build_prompt as prompt_of
from awaker_eval.tasks.registry import get_benchmark

NAN = float("nan")
MME_TAIL = ("\nSelect the best answer to the above multiple-choice question based on the image. Respond with only "
            "the letter (A, B, C, D, or E) of the correct option. \nThe best answer is:")


def build_prompt(sample, protocol: str) -> str:
    """The prompt under the benchmark the loader recorded on the sample."""
    return prompt_of(sample, protocol, get_benchmark(sample.extra["kind"]))


def mmb_cfg(tmp_path, **kw) -> BenchmarkConfig:
    base = dict(name="mmb", kind="mmbench", layout="tsv", version="v11", split="dev", cache_dir=str(tmp_path / "c"))
    return BenchmarkConfig(**{**base, **kw})


def mme_cfg(tmp_path, **kw) -> BenchmarkConfig:
    return BenchmarkConfig(name="mme", cache_dir=str(tmp_path / "c"), **kw)


def warnings_of(loaded) -> dict[str, list[str]]:
    return {kind: w["ids"] for kind, w in loaded.warnings.as_dict().items()}


def refused_under_strict(cfg: BenchmarkConfig, file_part: str, row_part: str, kind: str) -> None:
    cfg.strict = True
    with pytest.raises(DataError, match=rf"{row_part}.*\[{kind}; upstream accepts this row") as err:
        load_benchmark(cfg)
    assert file_part in str(err.value)


# --- MMBench (VLMEvalKit TSV read by pandas; lmms-lab parquet mirror) ---------------------------------------

@pytest.mark.parametrize("cell", ["None", "N/A", "NA", "null"])
def test_mmbench_tsv_na_option_with_the_answer_is_dropped_and_never_right(tmp_path, cell):
    rows = circular_rows()
    rows[0].update(D=cell, answer="D")  # pass 0 of question 7: "D. None" is the right answer upstream can't show
    path = write_tsv(tmp_path / "odd.tsv", rows)
    loaded = load_benchmark(mmb_cfg(tmp_path, source=path))
    s = loaded.samples[0]
    assert [c.letter for c in s.choices] == ["A", "B", "C"] and s.answer == "D"
    assert build_prompt(s, "vlmevalkit_qwen2vl") == (
        "Question: What animal is shown?\nOptions:\nA. a dog\nB. a cat\nC. a bird\n"
        "Please select the correct answer from the options above.")
    assert build_prompt(s, "lmms_eval") == (
        "What animal is shown? There are several options:\nA. a dog\nB. a cat\nC. a bird\n"
        "\nAnswer with the option's letter from the given choices directly.")
    assert warnings_of(loaded) == {"na_option_dropped": ["7"], "answer_on_na_option": ["7"]}
    assert loaded.warnings.as_dict()["answer_on_na_option"]["count"] == 1
    assert [x.answer for x in loaded.samples[1:4]] == list("ADC")  # the other passes load as before
    refused_under_strict(mmb_cfg(tmp_path, source=path), "odd.tsv", r"row 0 \(index 7\)", "na_option_dropped")


def test_mmbench_tsv_na_option_not_the_answer_and_an_empty_cell_stays_plain_missing(tmp_path):
    rows = circular_rows()
    rows[0].update(C="N/A")  # answer B stays answerable
    path = write_tsv(tmp_path / "odd.tsv", rows)
    loaded = load_benchmark(mmb_cfg(tmp_path, source=path))
    assert [(c.letter, c.text) for c in loaded.samples[0].choices] == [("A", "a dog"), ("B", "a cat"),
                                                                        ("D", "a fish")]
    assert warnings_of(loaded) == {"na_option_dropped": ["7"]}
    assert build_prompt(loaded.samples[0], "vlmevalkit_qwen2vl").split("Options:\n")[1] == (
        "A. a dog\nB. a cat\nD. a fish\nPlease select the correct answer from the options above.")
    # question 9 has empty C/D cells (2 options): not an oddity; an answer on an empty cell stays an error
    rows = circular_rows()
    rows[4].update(answer="C")
    with pytest.raises(DataError, match=r"row 4 \(index 9\): answer 'C' is not one of the option letters"):
        load_benchmark(mmb_cfg(tmp_path, source=write_tsv(tmp_path / "bad.tsv", rows)))


@pytest.mark.parametrize("cell", [" B ", "B ", "\tB"])
def test_mmbench_tsv_answer_cell_with_whitespace_is_a_warning(tmp_path, cell):
    """VLMEvalKit compares the raw cell (never right upstream): counted, scored on the letter, refused if strict."""
    rows = circular_rows()
    rows[0].update(answer=cell)
    path = write_tsv(tmp_path / "ws.tsv", rows)
    loaded = load_benchmark(mmb_cfg(tmp_path, source=path))
    assert [s.answer for s in loaded.samples[:4]] == list("BADC")
    assert warnings_of(loaded) == {"answer_with_whitespace": ["7"]}
    refused_under_strict(mmb_cfg(tmp_path, source=path), "ws.tsv",
                         rf"row 0 \(index 7\): answer cell {re.escape(repr(cell))} has whitespace around the letter "
                         r"'B'", "answer_with_whitespace")


def test_mcq_tsv_answer_cell_with_whitespace_is_a_warning(tmp_path):
    rows = [{k: v for k, v in r.items() if k != "source"} for r in circular_rows()[:1]]
    rows[0].update(answer=" B ")
    path = write_tsv(tmp_path / "mcq.tsv", rows)
    cfg = BenchmarkConfig(name="mine", kind="mcq", layout="tsv", source=path, cache_dir=str(tmp_path / "c"))
    loaded = load_benchmark(cfg)
    assert (loaded.samples[0].answer, warnings_of(loaded)) == ("B", {"answer_with_whitespace": ["7"]})


def test_mmbench_duplicated_option_text_keeps_both_options(tmp_path):
    rows = circular_rows()
    rows[1].update(C="a cat")
    path = write_tsv(tmp_path / "dup.tsv", rows)
    loaded = load_benchmark(mmb_cfg(tmp_path, source=path))
    assert build_prompt(loaded.samples[1], "vlmevalkit_qwen2vl") == (
        "Question: What animal is shown?\nOptions:\nA. a cat\nB. a bird\nC. a cat\nD. a dog\n"
        "Please select the correct answer from the options above.")
    assert warnings_of(loaded) == {"duplicated_option_text": ["1000007"]}
    refused_under_strict(mmb_cfg(tmp_path, source=path), "dup.tsv", r"row 1 \(index 1000007\): duplicated option "
                         r"text\(s\) \['a cat'\]", "duplicated_option_text")


def test_mmbench_options_ending_in_newlines_lmms_eval_strips_them_all(tmp_path):
    rows = circular_rows()
    rows[3].update(D="a bird\n\n")  # last option of pass 3 ends in two newlines
    path = write_tsv(tmp_path / "nl.tsv", rows)
    loaded = load_benchmark(mmb_cfg(tmp_path, source=path))
    s = loaded.samples[3]
    assert build_prompt(s, "lmms_eval") == (
        "What animal is shown? There are several options:\nA. a fish\nB. a dog\nC. a cat\nD. a bird"
        "\n\nAnswer with the option's letter from the given choices directly.")
    assert build_prompt(s, "vlmevalkit_default").endswith(
        "D. a bird\n\n\nPlease select the correct answer from the options above. \n")  # VLMEvalKit keeps them
    assert warnings_of(loaded) == {"option_ends_with_newline": ["3000007"]}
    refused_under_strict(mmb_cfg(tmp_path, source=path), "nl.tsv", r"row 3 \(index 3000007\)",
                         "option_ends_with_newline")


def test_mmbench_empty_string_option_in_the_parquet_mirror(tmp_path):
    """lmms-lab/MMBench stores options as strings: an empty one is an option lmms-eval leaves out."""
    rows = circular_rows()[:4]
    for r in rows:
        r["image"] = {"bytes": base64.b64decode(b64png(8, 8)), "path": None}
    rows[0]["C"] = ""
    features = datasets.Features({k: datasets.Image() if k == "image" else
                                  datasets.Value("int64" if k == "index" else "string") for k in rows[0]})
    (tmp_path / "en").mkdir()
    datasets.Dataset.from_list(rows, features=features).to_parquet(str(tmp_path / "en" / "dev-0.parquet"))
    cfg = mmb_cfg(tmp_path, layout="hf", version="v10", source=str(tmp_path / "en"))
    loaded = load_benchmark(cfg)
    s = loaded.samples[0]
    assert [c.text for c in s.choices] == ["a dog", "a cat", "", "a fish"]
    assert build_prompt(s, "lmms_eval") == (
        "What animal is shown? There are several options:\nA. a dog\nB. a cat\nD. a fish"
        "\n\nAnswer with the option's letter from the given choices directly.")
    assert build_prompt(s, "vlmevalkit_qwen2vl") == (
        "Question: What animal is shown?\nOptions:\nA. a dog\nB. a cat\nC. \nD. a fish\n"
        "Please select the correct answer from the options above.")
    assert warnings_of(loaded) == {"empty_option": ["7"]}
    refused_under_strict(cfg, "en", r"row 0 \(index 7\): empty option", "empty_option")


def test_mmbench_incomplete_circular_question_is_a_warning(tmp_path):
    rows = circular_rows()
    del rows[2]  # question 7 keeps passes 0, 1, 3 of its 4
    path = write_tsv(tmp_path / "inc.tsv", rows)
    loaded = load_benchmark(mmb_cfg(tmp_path, source=path))
    assert len(loaded.samples) == 5
    assert warnings_of(loaded) == {"incomplete_circular_question": ["7"]}
    assert warnings_of(load_benchmark(mmb_cfg(tmp_path, source=path, limit=1))) == {
        "incomplete_circular_question": ["7"]}
    rows = [r for r in rows if r["index"] % 1_000_000 == 9] + [r for r in rows if r["index"] % 1_000_000 == 7]
    limited = load_benchmark(mmb_cfg(tmp_path, source=write_tsv(tmp_path / "inc2.tsv", rows), limit=1))
    assert [s.group for s in limited.samples] == ["9", "9"] and limited.warnings.as_dict() == {}  # not run: not said
    refused_under_strict(mmb_cfg(tmp_path, source=path), "inc.tsv",
                         r"question 7: question 7 has circular pass\(es\) \[0, 1, 3\], expected \[0, 1, 2, 3\]",
                         "incomplete_circular_question")


def test_mmbench_one_option_is_refused_unless_upstream_dropped_the_other(tmp_path):
    rows = circular_rows()
    rows[4].update(B=NAN)  # question 9 pass 0: a single option, a free point
    with pytest.raises(DataError, match=r"one.tsv, row 4 \(index 9\): only 1 answer option\(s\) \['yes'\]: a "
                                        r"multiple-choice item needs at least 2"):
        load_benchmark(mmb_cfg(tmp_path, source=write_tsv(tmp_path / "one.tsv", rows)))
    rows[4].update(B="None")  # upstream reads it as NaN and loads the row
    loaded = load_benchmark(mmb_cfg(tmp_path, source=write_tsv(tmp_path / "none.tsv", rows)))
    assert [c.letter for c in loaded.samples[4].choices] == ["A"] and warnings_of(loaded) == {
        "na_option_dropped": ["9"]}


def test_clean_mmbench_tsv_has_no_warnings(tmp_path):
    loaded = load_benchmark(mmb_cfg(tmp_path, source=write_tsv(tmp_path / "ok.tsv", circular_rows()), strict=True))
    assert len(loaded.samples) == 6 and loaded.warnings.as_dict() == {}


# --- MME-RealWorld (official JSON, Base64 JSON, VLMEvalKit TSV, lmms-eval parquet) --------------------------

def test_official_json_duplicated_d_lists_all_five_strings(tmp_path):
    rows = official_rows()
    rows[1]["Answer choices"] = ["(A) 13", "(B) 90", "(C) 77", "(D) 6", "(D) 7"]
    path, root = write_official(tmp_path, rows)
    cfg = mme_cfg(tmp_path, layout="official_json", source=str(path), image_root=str(root))
    loaded = load_benchmark(cfg)
    s = loaded.samples[1]
    assert build_prompt(s, "official") == (
        "How many? The choices are listed below:\n(A) 13\n(B) 90\n(C) 77\n(D) 6\n(D) 7" + MME_TAIL)
    assert s.answer == "D"
    assert warnings_of(loaded) == {"duplicated_option_letter": ["perception/monitoring/Vehicle/counting/0310"]}
    refused_under_strict(cfg, str(path), r"row 1 \(perception/monitoring/Vehicle/counting/0310\): duplicated option "
                         r"letter\(s\) \['D'\]", "duplicated_option_letter")


def _write_layout(tmp_path, layout: str, rows: list[dict]) -> BenchmarkConfig:
    if layout == "base64_json":
        (tmp_path / "b64").mkdir()
        (tmp_path / "b64" / "MME_RealWorld_base64_0.json").write_text(json.dumps(rows), encoding="utf-8")
        return mme_cfg(tmp_path, layout=layout, source=str(tmp_path / "b64"))
    if layout == "parquet":
        for r in rows:
            r["bytes"] = r.pop("image")
        pd.DataFrame(rows).to_parquet(tmp_path / "train-0.parquet")
        return mme_cfg(tmp_path, layout=layout, source=str(tmp_path / "train-0.parquet"))
    for r in rows:  # VLMEvalKit TSV: header + one option per line
        r["multi-choice options"] = "The choices are listed below:\n" + "\n".join(r["multi-choice options"])
    pd.DataFrame(rows).to_csv(tmp_path / "MME-RealWorld.tsv", sep="\t", index=False)
    return mme_cfg(tmp_path, layout="tsv", source=str(tmp_path / "MME-RealWorld.tsv"))


@pytest.mark.parametrize("layout", ["base64_json", "parquet", "tsv"])
def test_mme_tables_option_ending_in_newline_is_kept_in_the_prompt(tmp_path, layout):
    rows = table_rows()
    rows[1]["multi-choice options"] = ["(A) 458\n", "(B) 457", "(C) 456", "(D) 455", "(E) none\n"]
    cfg = _write_layout(tmp_path, layout, rows)
    loaded = load_benchmark(cfg)
    s = loaded.samples[1]
    assert [c.raw for c in s.choices] == ["(A) 458\n", "(B) 457", "(C) 456", "(D) 455", "(E) none\n"]
    assert build_prompt(s, "official") == (
        "Q1? The choices are listed below:\n(A) 458\n\n(B) 457\n(C) 456\n(D) 455\n(E) none\n" + MME_TAIL)
    assert [c.text for c in s.choices][::4] == ["458", "none"]
    assert warnings_of(loaded) == {"option_ends_with_newline": ["11"]}
    refused_under_strict(cfg, "", r"row 1 \(index 11\): option ending in a newline", "option_ends_with_newline")


@pytest.mark.parametrize("layout", ["base64_json", "parquet", "tsv"])
def test_mme_tables_duplicated_option_text(tmp_path, layout):
    rows = table_rows()
    rows[0]["multi-choice options"] = ["(A) 458", "(B) 457", "(C) 457", "(D) 455", "(E) none"]
    loaded = load_benchmark(_write_layout(tmp_path, layout, rows))
    assert build_prompt(loaded.samples[0], "official").split("\nSelect")[0].endswith(
        "(A) 458\n(B) 457\n(C) 457\n(D) 455\n(E) none")
    assert warnings_of(loaded) == {"duplicated_option_text": ["10"]}


def test_lite_tsv_options_are_a_python_list_literal_never_evaluated(tmp_path):
    rows = table_rows()
    for r in rows:
        r["multi-choice options"] = str(r["multi-choice options"])  # "['(A) 458', '(B) 457', ...]"
    path = tmp_path / "mme_realworld_lite.tsv"
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
    cfg = mme_cfg(tmp_path, layout="tsv", variant="lite", source=str(path))
    loaded = load_benchmark(cfg)
    assert [c.raw for c in loaded.samples[0].choices] == OPTS and loaded.warnings.as_dict() == {}
    assert build_prompt(loaded.samples[0], "official") == (
        "Q0? The choices are listed below:\n" + "\n".join(OPTS) + MME_TAIL)
    rows[2]["multi-choice options"] = "[__import__('os').system('touch pwned')]"
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
    with pytest.raises(DataError, match=r"row 2 \(index 12\): 'multi-choice options' .* is not a Python list literal"):
        load_benchmark(cfg)
    assert not (tmp_path / "pwned").exists()


def test_mme_one_option_is_refused(tmp_path):
    rows = official_rows()
    rows[1].update({"Answer choices": ["(A) 13"], "Ground truth": "A"})
    path, root = write_official(tmp_path, rows)
    with pytest.raises(DataError, match=r"row 1 \(perception/monitoring/Vehicle/counting/0310\): only 1 answer "
                                        r"option\(s\) \['\(A\) 13'\]"):
        load_benchmark(mme_cfg(tmp_path, layout="official_json", source=str(path), image_root=str(root)))


# --- image paths stay inside the data's folder --------------------------------------------------------------

@pytest.mark.parametrize("image", ["../../../outside/secret.png", "ABSOLUTE", "dt/../../secret.png"])
def test_official_json_image_path_outside_image_root_is_refused(tmp_path, image):
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.png").write_bytes(png(4, 4))
    rows = official_rows()
    rows[1]["Image"] = str(tmp_path / "outside" / "secret.png") if image == "ABSOLUTE" else image
    path, root = write_official(tmp_path, rows)
    cfg = mme_cfg(tmp_path, layout="official_json", source=str(path), image_root=str(root))
    with pytest.raises(DataError, match=r"row 1 \(perception/monitoring/Vehicle/counting/0310\): image path .* "
                                        r"outside the image folder .*benchmark.allow_outside_paths=true") as err:
        load_benchmark(cfg)
    assert str(path) in str(err.value)
    cfg.allow_outside_paths = True
    assert load_benchmark(cfg).samples[1].images[0].path.endswith("secret.png")


def test_localized_tsv_image_path_outside_its_folder_is_refused(tmp_path):
    rows = table_rows()
    for r in rows:
        r.pop("image")
        r["image_path"] = f"img/{r['index']}.png"
    rows[2]["image_path"] = "../secret.png"
    (tmp_path / "data").mkdir()
    pd.DataFrame(rows).to_csv(tmp_path / "data" / "local.tsv", sep="\t", index=False)
    with pytest.raises(DataError, match=r"local.tsv, row 2 \(index 12\): image path '../secret.png' resolves to "):
        load_benchmark(mme_cfg(tmp_path, layout="tsv", source=str(tmp_path / "data" / "local.tsv")))
