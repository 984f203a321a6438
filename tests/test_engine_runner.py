"""The engine on the fake deterministic model: batch invariance, resume, fingerprints, faults, choice mode."""

from __future__ import annotations

import json
import weakref

import pytest
import torch

from awaker_eval.engine.choice import choice_agreement
from awaker_eval.engine.metadata import collect_run_metadata
from awaker_eval.engine.execute import UnsupportedMode
from awaker_eval.engine.loader import available_cores, busy_cores, main_process_threads
from awaker_eval.engine.runner import AllSamplesFailed, EngineSettings, run_inference
from awaker_eval.models.base import VisionLanguageModel
from test_engine_support import FakeModel, encode, finalize, make_samples, run_fake

N = 12


def letters(result):
    return [p.extracted for p in result.predictions]


@pytest.fixture
def images(tmp_path_factory):
    return tmp_path_factory.mktemp("images")


@pytest.fixture
def reference(tmp_path_factory, images):
    """The batch-size-1 run everybody compares with."""
    result, model = run_fake(tmp_path_factory.mktemp("ref"), images, N, batch_size=1)
    assert model.batch_sizes == [1] * N
    return result


def test_batch_invariance_and_sample_order(tmp_path, images, reference):
    result, model = run_fake(tmp_path, images, N, batch_size=5)
    assert sorted(model.batch_sizes) == [2, 5, 5]
    assert letters(result) == letters(reference)
    assert letters(reference) == ["D", "A", "A", "A", "C", "B", "D", "B", "B", "A", "A", "B"]
    assert [p.id for p in result.predictions] == [f"q{i:04d}" for i in range(N)]
    merged = [json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert [m["id"] for m in merged] == [f"q{i:04d}" for i in range(N)]
    assert {(m["protocol_fp"], m["model_fp"]) for m in merged} == {("p1", "m1")}
    assert (result.counts.total, result.counts.done, result.counts.skipped, result.counts.failed) == (N, N, 0, 0)


def test_token_budget_batches_are_invariant_too(tmp_path, images, reference):
    samples = make_samples(images, N)
    model = FakeModel()
    settings = EngineSettings(batch_size=8, max_batch_visual_tokens=3 * 40, progress=False)
    result = run_inference(samples, encode, model, finalize, tmp_path, "p1", "m1", settings)
    assert max(model.batch_sizes) <= 3 and len(model.batch_sizes) >= N // 3
    assert letters(result) == letters(reference)


def test_rerun_skips_and_changed_fingerprints_recompute(tmp_path, images):
    first, _ = run_fake(tmp_path, images, N)
    again, model = run_fake(tmp_path, images, N)
    assert (again.counts.done, again.counts.skipped, model.batch_sizes) == (0, N, [])
    assert letters(again) == letters(first)
    changed, model = run_fake(tmp_path, images, N, protocol_fp="p2")
    assert (changed.counts.done, changed.counts.skipped, sum(model.batch_sizes)) == (N, 0, N)
    assert {p.protocol_fp for p in changed.predictions} == {"p2"}
    more, _ = run_fake(tmp_path, images, N + 3)  # three new samples: only they are computed
    assert (more.counts.done, more.counts.skipped) == (3, N)


def test_a_resumed_run_says_what_it_reuses_and_shows_no_empty_bar(tmp_path, images, capsys):
    run_fake(tmp_path, images, N)
    assert capsys.readouterr().out == ""  # nothing stored: nothing to say
    run_fake(tmp_path, images, N + 3)
    assert capsys.readouterr().out == f"reusing {N} stored predictions, computing 3\n"
    samples = make_samples(images, N + 3)
    settings = EngineSettings(batch_size=4, progress=True)
    run_inference(samples, encode, FakeModel(), finalize, tmp_path, "p1", "m1", settings)
    out = capsys.readouterr()
    assert (out.out, out.err) == (f"reusing {N + 3} stored predictions, computing 0\n", "")  # no 0-sample bar


def test_corrupt_image_is_recorded_as_failed_and_retried_on_rerun(tmp_path, images, reference):
    samples = make_samples(tmp_path / "img", N, corrupt=(4,))
    settings = EngineSettings(batch_size=4, progress=False)
    result = run_inference(samples, encode, FakeModel(), finalize, tmp_path / "run", "p1", "m1", settings)
    bad = result.predictions[4]
    assert bad.error.startswith("ImageLoadError: image 'img4': cannot decode") and "q0004" in bad.error
    assert (bad.correct, bad.raw_output, bad.extracted) == (False, None, "")
    assert result.counts.failed == 1 and result.counts.done == N
    assert [p.extracted for i, p in enumerate(result.predictions) if i != 4] == [
        x for i, x in enumerate(letters(reference)) if i != 4
    ]
    meta = collect_run_metadata(result=result, protocol_fp="p1", model_fp="m1", timings={"model_load_s": 1.5})
    assert meta["failures_by_type"] == {"ImageLoadError": 1}
    assert meta["counts"] == {"total": N, "done": N, "skipped": 0, "failed": 1}
    assert meta["timings_s"]["model_load_s"] == 1.5 and meta["timings_s"]["engine_total"] > 0
    assert set(meta["packages"]) >= {"torch", "transformers", "datasets", "qwen-vl-utils", "awaker-eval"}
    assert "commit" in meta["git"] and "dirty" in meta["git"]
    rerun = run_inference(samples, encode, FakeModel(), finalize, tmp_path / "run", "p1", "m1", settings)
    assert (rerun.counts.done, rerun.counts.skipped, rerun.counts.failed) == (1, N - 1, 1)


def test_oom_batches_are_split_in_halves(tmp_path, images, reference):
    result, model = run_fake(tmp_path, images, N, batch_size=8, oom_above=2)
    assert letters(result) == letters(reference)
    assert max(model.batch_sizes) == 2 and result.oom_splits == 4  # 8 -> 4+4 -> 2+2+2+2 (3 splits); 4 -> 2+2 (1)
    assert result.counts.failed == 0



class HoldsActivations(FakeModel):
    """OOMs on batches above 2 rows while a stand-in for device activations lives in the failing frame."""

    def __init__(self):
        super().__init__()
        self.markers: list[weakref.ref] = []
        self.alive_at_call: list[int] = []

    def generate(self, prepared, settings):
        self.alive_at_call.append(sum(m() is not None for m in self.markers))
        activations = torch.zeros(4)
        self.markers.append(weakref.ref(activations))
        if len(prepared["lengths"]) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (fake)")
        return super().generate(prepared, settings)


def test_halves_run_after_the_failed_calls_memory_is_released(tmp_path, images, reference):
    model = HoldsActivations()
    settings = EngineSettings(batch_size=8, progress=False)
    result = run_inference(make_samples(images, N), encode, model, finalize, tmp_path, "p1", "m1", settings)
    assert letters(result) == letters(reference) and result.oom_splits == 4
    assert model.alive_at_call == [0] * len(model.alive_at_call)  # no traceback keeps a failed call's tensors

def test_a_sample_that_oom_alone_is_recorded_and_the_rest_goes_on(tmp_path, images, reference):
    length = FakeModel().prepare([encode(make_samples(images, N)[3])])["lengths"][0]
    result, _ = run_fake(tmp_path, images, N, batch_size=4, oom_ids_len=length)
    failed = [p.id for p in result.predictions if p.error]
    assert failed == ["q0003"]
    assert result.predictions[3].error.startswith("out of memory even alone: OutOfMemoryError")
    assert [x for i, x in enumerate(letters(result)) if i != 3] == [x for i, x in enumerate(letters(reference)) if i != 3]


def test_a_broken_model_fails_fast(tmp_path, images):
    samples = make_samples(images, N)
    settings = EngineSettings(batch_size=4, progress=False, fail_fast=8)
    with pytest.raises(AllSamplesFailed, match="the first 8 samples all failed.*ValueError: broken model"):
        run_inference(samples, encode, FakeModel(fail_always=True), finalize, tmp_path, "p1", "m1", settings)


def test_failed_judge_calls_do_not_trip_fail_fast(tmp_path, images):
    """A pass whose judge call failed carries an error but had a good model output: the run goes on (each such
    pass is recorded with its error and retried on the next run), it is not a broken model."""
    import dataclasses

    def judge_down(sample, output):
        return dataclasses.replace(finalize(sample, output), error="judge call failed: HTTP 500",
                                   extract_method="judge_failed")

    settings = EngineSettings(batch_size=4, progress=False, fail_fast=8)
    result = run_inference(make_samples(images, N), encode, FakeModel(), judge_down, tmp_path, "p1", "m1", settings)
    assert len(result.predictions) == N and all(p.error == "judge call failed: HTTP 500" for p in result.predictions)


def test_choice_mode_records_distribution_and_agreement(tmp_path, images, reference):
    result, _ = run_fake(tmp_path, images, N, mode="choice", protocol_fp="p1-choice")
    first = result.predictions[0]
    assert list(first.choice_logprobs) == ["A", "B", "C", "D"]
    assert pytest.approx(sum(2.718281828 ** v for v in first.choice_logprobs.values()), abs=1e-6) == 1.0
    for p in result.predictions:
        assert p.extracted == max(p.choice_logprobs, key=p.choice_logprobs.get)
    stats = choice_agreement(reference.predictions, result.predictions)
    agree = sum(a == b for a, b in zip(letters(reference), letters(result)))
    assert stats["compared"] == N and stats["agree"] == agree and stats["agreement"] == agree / N
    assert stats["gen_accuracy"] == sum(bool(p.correct) for p in reference.predictions) / N


def test_worker_processes_give_the_same_predictions(tmp_path, images, reference):
    result, _ = run_fake(tmp_path, images, N, batch_size=3, num_workers=2)
    assert letters(result) == letters(reference)
    assert result.timings.preprocess > 0


class NoChoiceModel(FakeModel):
    """A backend without choice scoring (the base class raises NotImplementedError); counts the attempts."""

    calls = 0

    def score_choices(self, prepared, letters):
        self.calls += 1
        return VisionLanguageModel.score_choices(self, prepared, letters)


def test_a_mode_the_backend_cannot_do_is_fatal_not_per_sample(tmp_path, images):
    samples = make_samples(images, N)
    model = NoChoiceModel()
    settings = EngineSettings(mode="choice", batch_size=4, progress=False)
    with pytest.raises(UnsupportedMode, match="NoChoiceModel cannot run engine mode 'choice'.*does not support choice"):
        run_inference(samples, encode, model, finalize, tmp_path, "p1", "m1", settings)
    assert model.calls == 1  # not bisected down to single samples
    assert (tmp_path / "shards" / "predictions.rank0.jsonl").read_text() == ""  # no error recorded on any sample


def test_cpu_model_with_workers_gets_the_cores_the_workers_leave(tmp_path, images, reference):
    import torch

    class CPUFake(FakeModel):
        device = torch.device("cpu")
        seen: list[int] = []

        def generate(self, prepared, settings):
            self.seen.append(torch.get_num_threads())
            return super().generate(prepared, settings)

    before = torch.get_num_threads()
    try:
        with main_process_threads(torch.device("cpu"), 2, cores=4, busy=0) as n:
            assert n == 1 == torch.get_num_threads()  # never raised above the current setting (1 in tests)
        torch.set_num_threads(4)
        with main_process_threads("cpu", 1, cores=4, busy=0) as n:
            assert n == 3 == torch.get_num_threads()
        assert torch.get_num_threads() == 4  # restored
        with main_process_threads("cpu", 6, cores=4, busy=0) as n:
            assert n == 1 == torch.get_num_threads()
        for device, workers in (("cuda:0", 2), (torch.device("cpu"), 0), (None, 2)):
            with main_process_threads(device, workers, cores=4, busy=0) as n:
                assert n == 4 == torch.get_num_threads()  # accelerator / no workers / remote model: untouched
        model = CPUFake()
        settings = EngineSettings(batch_size=6, num_workers=1, progress=False)
        cores = available_cores()
        result = run_inference(make_samples(images, N), encode, model, finalize, tmp_path, "p1", "m1", settings)
        expected = max(1, min(4, cores - 1 - busy_cores()))
        assert model.seen == [expected, expected] and result.main_threads == expected
        assert result.to_dict()["main_threads"] == expected and torch.get_num_threads() == 4
        assert letters(result) == letters(reference)
    finally:
        torch.set_num_threads(before)
