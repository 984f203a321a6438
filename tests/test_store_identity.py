"""Content identity of stored predictions: a rerun reuses a prediction only when its prompt text, image bytes,
answer, options, protocol and weights are all unchanged, recomputes exactly the others and says why."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path

from hydra import compose, initialize_config_dir
from hypothesis import HealthCheck, given, settings, strategies as st
from omegaconf import OmegaConf
from PIL import Image

from awaker_eval.app import CONF_DIR
from awaker_eval.config.schema import RunConfig, register_configs
from awaker_eval.engine.identity import data_digest, prompt_keys, sample_fields_text
from awaker_eval.engine.runner import EngineSettings, run_inference
from awaker_eval.models.loading import fingerprint_hash, weights_identity
from awaker_eval.pipeline import evaluate
from awaker_eval.types import Choice, ImageRef, Prediction, Sample
from test_data_mme_realworld import official_rows, write_official
from test_engine_support import FakeModel, encode, finalize, make_samples

N = 6
SETTINGS = EngineSettings(batch_size=4, progress=False)


class Recording:
    """``finalize`` that remembers which samples were computed."""

    def __init__(self):
        self.ids: list[str] = []

    def __call__(self, sample, output):
        self.ids.append(sample.id)
        return finalize(sample, output)


def pipeline_cfg(tmp_path, tiny_cache_dir, *extra: str) -> RunConfig:
    register_configs()
    overrides = [f"model.cache_dir={tiny_cache_dir}", f"benchmark.cache_dir={tmp_path / 'data'}",
                 "runner.progress=false", "runner.bootstrap_samples=50", "benchmark.max_new_tokens=2", *extra]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return OmegaConf.to_object(compose("config", overrides=overrides))


def run(samples, run_dir, model_fp="m1"):
    rec = Recording()
    result = run_inference(samples, encode, FakeModel(), rec, run_dir, "p1", model_fp, SETTINGS)
    return result, rec.ids


def repaint(path: Path, colour: tuple[int, int, int]) -> None:
    """Rewrite an image file in place (same name, new pixels)."""
    with Image.open(path) as img:
        size = img.size
    Image.new("RGB", size, colour).save(path, format="PNG")


def edit_answer(s: Sample) -> Sample:
    return dataclasses.replace(s, answer="ABCD"[("ABCD".index(s.answer) + 1) % 4])


def edit_question(s: Sample) -> Sample:
    return dataclasses.replace(s, question=s.question + " (reworded)")


def edit_option(s: Sample) -> Sample:
    c = s.choices[1]
    changed = Choice(letter=c.letter, text=c.text + "0", raw=c.raw + "0")
    return dataclasses.replace(s, choices=(s.choices[0], changed, *s.choices[2:]))


def test_each_content_change_is_recomputed_and_counted_by_reason(tmp_path):
    samples = make_samples(tmp_path / "img", 8)
    first, _ = run(samples, tmp_path / "run")
    assert (first.counts.done, first.counts.skipped, first.invalidated) == (8, 0, {})
    edited = list(samples)
    edited[1] = edit_answer(samples[1])
    edited[2] = edit_question(samples[2])
    edited[3] = edit_option(samples[3])
    repaint(Path(samples[4].images[0].path), (1, 2, 3))
    again, computed = run(edited, tmp_path / "run")
    assert sorted(computed) == ["q0001", "q0002", "q0003", "q0004"]
    assert (again.counts.done, again.counts.skipped) == (4, 4)
    assert again.invalidated == {"answer": 1, "options": 1, "prompt/image": 2}
    assert again.predictions[1].answer == edited[1].answer and again.predictions[1].correct == (
        again.predictions[1].extracted == edited[1].answer)
    fresh, _ = run(edited, tmp_path / "fresh")
    assert [p.extracted for p in again.predictions] == [p.extracted for p in fresh.predictions]
    assert [p.prompt_hash for p in again.predictions] == [p.prompt_hash for p in fresh.predictions]
    assert again.to_dict()["invalidated"] == {"answer": 1, "options": 1, "prompt/image": 2}


def test_same_ids_from_another_dataset_are_not_reused(tmp_path):
    """Pointing a run at a directory made from other data with the same ids: nothing is reused."""
    a = make_samples(tmp_path / "a", 4)
    b = [dataclasses.replace(edit_question(s), answer="ABCD"[("ABCD".index(s.answer) + 2) % 4]) for s in
         make_samples(tmp_path / "b", 4)]
    run(a, tmp_path / "run")
    result, computed = run(b, tmp_path / "run")
    assert (result.counts.done, result.counts.skipped, result.invalidated) == (4, 0, {"answer": 4})
    assert [p.answer for p in result.predictions] == [s.answer for s in b]


def test_content_keys_and_data_digest_follow_the_image_bytes(tmp_path):
    samples = make_samples(tmp_path / "img", 3)
    keys = prompt_keys(samples, sample_fields_text)
    digest = data_digest(samples, keys)
    assert prompt_keys(samples, sample_fields_text) == keys and data_digest(samples, keys) == digest
    repaint(Path(samples[0].images[0].path), (9, 9, 9))
    keys2 = prompt_keys(samples, sample_fields_text)
    assert keys2[samples[0].id] != keys[samples[0].id] and [keys2[s.id] for s in samples[1:]] == [
        keys[s.id] for s in samples[1:]]
    assert data_digest(samples, keys2) != digest
    swapped = [dataclasses.replace(samples[0], answer="D" if samples[0].answer != "D" else "A"), *samples[1:]]
    assert data_digest(swapped, keys) != digest


def test_unreadable_image_gets_a_key_instead_of_stopping_the_run(tmp_path):
    sample = Sample(id="x", benchmark="fake", language="en", question="Q?", answer="A",
                    choices=(Choice("A", "a", "A. a"), Choice("B", "b", "B. b")),
                    images=(ImageRef(key="gone", path=str(tmp_path / "missing.png")),))
    key = prompt_keys([sample], sample_fields_text)["x"]
    assert key and key != prompt_keys([dataclasses.replace(sample, images=())], sample_fields_text)["x"]


EDITS = st.lists(st.tuples(st.integers(0, N - 1), st.sampled_from(["answer", "question", "option", "image"])),
                 max_size=5)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=EDITS, weight_byte=st.one_of(st.none(), st.integers(0, 3 * (1 << 20) - 1)))
def test_property_a_rerun_recomputes_exactly_the_edited_samples(edits, weight_byte):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ckpt = tmp / "ckpt"
        ckpt.mkdir()
        weights = ckpt / "model.safetensors"
        weights.write_bytes(bytes(range(256)) * (3 * (1 << 20) // 256))
        cache = tmp / "digests.json"

        def model_fp() -> str:
            return fingerprint_hash({"weights": weights_identity(ckpt, cache_path=cache)})

        samples = make_samples(tmp / "img", N)
        run(samples, tmp / "run", model_fp())
        edited = list(samples)
        repainted: set[int] = set()
        for i, what in edits:
            if what == "image":
                repaint(Path(samples[i].images[0].path), (i * 40 % 256, len(repainted) * 50 % 256, 77))
                repainted.add(i)
            else:
                edited[i] = {"answer": edit_answer, "question": edit_question, "option": edit_option}[what](edited[i])
        if weight_byte is not None:
            with open(weights, "r+b") as fh:  # replaced in place: same size, one byte differs
                fh.seek(weight_byte)
                old = fh.read(1)
                fh.seek(weight_byte)
                fh.write(bytes([old[0] ^ 0x5A]))
        result, computed = run(edited, tmp / "run", model_fp())

        def reason(i: int) -> str | None:  # what changed, in the engine's order (an answer edited 4x is back)
            if weight_byte is not None:
                return "model"
            if edited[i].answer != samples[i].answer:
                return "answer"
            if edited[i].choices != samples[i].choices:
                return "options"
            if edited[i].question != samples[i].question or i in repainted:
                return "prompt/image"
            return None

        expected_ids = [samples[i].id for i in range(N) if reason(i)]
        expected_reasons: dict[str, int] = {}
        for i in range(N):
            if reason(i):
                expected_reasons[reason(i)] = expected_reasons.get(reason(i), 0) + 1
        assert sorted(computed) == sorted(expected_ids)
        assert (result.counts.done, result.counts.skipped) == (len(expected_ids), N - len(expected_ids))
        assert result.invalidated == expected_reasons
        fresh, _ = run(edited, tmp / "fresh", model_fp())
        assert [p.extracted for p in result.predictions] == [p.extracted for p in fresh.predictions]
        assert [p.answer for p in result.predictions] == [s.answer for s in edited]
        assert os.path.getsize(weights) == 3 * (1 << 20)


def labelled_finalize(sample, output):
    """``finalize`` recording the sample's labels as the pipeline does (``Prediction.of_sample``)."""
    pred = finalize(sample, output)
    return Prediction.of_sample(sample, prompt_hash="", protocol_fp="", model_fp="", raw_output=pred.raw_output,
                                extracted=pred.extracted, extract_method=pred.extract_method, correct=pred.correct)


def test_edited_labels_are_reused_relabelled_without_inference(tmp_path):
    samples = [dataclasses.replace(s, task="Perception", subtask="OCR", category="text") for s in
               make_samples(tmp_path / "img", 6)]

    def run_labelled(items, run_dir):
        rec = Recording()
        result = run_inference(items, encode, FakeModel(), lambda s, o: (rec(s, o), labelled_finalize(s, o))[1],
                               run_dir, "p1", "m1", SETTINGS)
        return result, rec.ids

    run_labelled(samples, tmp_path / "run")
    edited = list(samples)
    edited[1] = dataclasses.replace(samples[1], task="Reasoning")
    edited[2] = dataclasses.replace(samples[2], subtask="Monitoring", category="vehicle/counting")
    edited[3] = dataclasses.replace(samples[3], group="q0000", cluster="img0")
    again, computed = run_labelled(edited, tmp_path / "run")
    assert (computed, again.counts.done, again.counts.skipped, again.invalidated) == ([], 0, 6, {})
    assert again.relabelled == 3 and again.to_dict()["relabelled"] == 3
    fresh, _ = run_labelled(edited, tmp_path / "fresh")
    fields = ("task", "subtask", "category", "group", "cluster", "extracted", "correct")
    assert [[getattr(p, f) for f in fields] for p in again.predictions] == [
        [getattr(p, f) for f in fields] for p in fresh.predictions]
    merged = [json.loads(line) for line in (tmp_path / "run" / "predictions.jsonl").read_text().splitlines()]
    assert [(m["task"], m["subtask"], m["group"]) for m in merged[1:4]] == [
        ("Reasoning", "OCR", "q0001"), ("Perception", "Monitoring", "q0002"), ("Perception", "OCR", "q0000")]
    third, computed = run_labelled(edited, tmp_path / "run")  # the relabelled copies are stored: nothing left
    assert (computed, third.relabelled) == ([], 0)
    assert [p.task for p in third.predictions] == [p.task for p in fresh.predictions]


def test_edited_task_scores_as_a_fresh_run_end_to_end(tmp_path, tiny_cache_dir, capsys):
    """The issue's case: an item moved from Perception to Reasoning keeps its stored output, and scores.json
    equals a fresh run's; run.json and the output say how many predictions were relabelled."""
    rows = official_rows()
    path, root = write_official(tmp_path, rows)
    source = [f"benchmark.source={path}", f"benchmark.image_root={root}", "benchmark.layout=official_json"]
    run_dir = evaluate(pipeline_cfg(tmp_path, tiny_cache_dir, *source, f"output_dir={tmp_path / 'run'}"))
    rows[0]["Task"] = "Reasoning"
    rows[1]["Category"] = "vehicle/counting"
    path.write_text(json.dumps(rows), encoding="utf-8")
    capsys.readouterr()
    evaluate(pipeline_cfg(tmp_path, tiny_cache_dir, *source, f"output_dir={run_dir}"))
    assert ("2 stored prediction(s) are reused with the labels the data now gives them (task, subtask, category, "
            "scoring unit: relabelled, not recomputed, as no model input changed)") in capsys.readouterr().out
    meta = json.loads((run_dir / "run.json").read_text())
    assert (meta["relabelled"], meta["invalidated"], meta["counts"]["done"]) == (2, {}, 0)
    assert meta["attempts"][-1]["relabelled"] == 2
    fresh = evaluate(pipeline_cfg(tmp_path, tiny_cache_dir, *source, f"output_dir={tmp_path / 'fresh'}"))
    scores = json.loads((run_dir / "scores.json").read_text())
    assert scores == json.loads((fresh / "scores.json").read_text())
    assert (scores["n_perception"], scores["n_reasoning"]) == (1, 2)
