"""The engine on the real (tiny, random) Qwen2-VL: batch size and token-budget batching never change outputs."""

from __future__ import annotations

import pytest

from awaker_eval.engine.runner import EngineSettings, run_inference
from awaker_eval.models.base import GenerationSettings
from test_engine_support import encode, finalize, make_samples

N = 6
GEN = GenerationSettings(max_new_tokens=4)


def run(tiny_model, run_dir, images, **kw):
    settings = EngineSettings(progress=False, generation=GEN, min_pixels=28 * 28, max_pixels=56 * 56, **kw)
    return run_inference(make_samples(images, N), encode, tiny_model, finalize, run_dir, "p", "tiny", settings)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return tmp_path_factory.mktemp("tiny_images")


def test_batch_size_one_equals_batched_and_budgeted(tiny_model, tmp_path, images):
    one = run(tiny_model, tmp_path / "bs1", images, batch_size=1)
    many = run(tiny_model, tmp_path / "bs4", images, batch_size=4)
    budget = run(tiny_model, tmp_path / "budget", images, batch_size=6, max_batch_visual_tokens=160)
    texts = [p.raw_output for p in one.predictions]
    assert all(isinstance(t, str) and t for t in texts) and len(set(texts)) > 1
    assert [p.raw_output for p in many.predictions] == texts
    assert [p.raw_output for p in budget.predictions] == texts
    assert (one.batches, many.batches) == (N, 2) and 2 < budget.batches < N
    assert one.counts.failed == many.counts.failed == 0


def test_choice_mode_batched_matches_single(tiny_model, tmp_path, images):
    one = run(tiny_model, tmp_path / "c1", images, batch_size=1, mode="choice")
    many = run(tiny_model, tmp_path / "c3", images, batch_size=3, mode="choice")
    for a, b in zip(one.predictions, many.predictions):
        assert list(a.choice_logprobs) == ["A", "B", "C", "D"]
        assert a.choice_logprobs == pytest.approx(b.choice_logprobs, abs=1e-4)
        assert a.raw_output == b.raw_output == max(a.choice_logprobs, key=a.choice_logprobs.get)
