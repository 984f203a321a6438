"""Vision reuse (``runner.reuse_vision``): each distinct image is encoded once, outputs and routing are identical with
reuse on and off, the counters match the distinct images, and the cache never outlives an image's questions."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from awaker_eval.engine.batching import image_group, order_by_cost
from awaker_eval.engine.runner import EngineSettings, run_inference
from awaker_eval.models.base import GenerationSettings
from awaker_eval.models.vision_reuse import VisionFeatureCache
from awaker_eval.types import Choice, ImageRef, Sample
from test_engine_support import encode, finalize as finalize_letter

LETTERS = "ABCD"


def _noise(path, w, h, seed):
    g = torch.Generator().manual_seed(seed)
    Image.fromarray((torch.rand(h, w, 3, generator=g) * 255).byte().numpy()).save(path)
    return str(path)


def _sample(sid, key, path, question, options, answer="A"):
    choices = tuple(Choice(letter=l, text=o, raw=f"{l}. {o}") for l, o in zip(LETTERS, options))
    images = (ImageRef(key=key, path=path),) if key else ()
    return Sample(id=sid, benchmark="fake", language="en", question=question, choices=choices, answer=answer,
                  images=images, group=sid.split("#")[0], cluster=key)


@pytest.fixture(scope="module")
def shared_image_samples(tmp_path_factory):
    """MME-RealWorld-style items sharing images (4, 2 and 1 questions), a text-only item, an MMBench question in
    its 4 circular passes, and two *different* images that carry the same key (must never share features)."""
    d = tmp_path_factory.mktemp("shared_images")
    paths = [_noise(d / f"im{i}.png", w, h, i) for i, (w, h) in enumerate([(60, 40), (40, 70), (50, 50), (45, 45),
                                                                            (30, 60), (60, 30)])]
    opts = ["red", "green", "blue", "grey"]
    samples = [_sample(f"m{i}", "im0", paths[0], f"How many shapes? variant {i}" + " x" * i, opts) for i in range(4)]
    samples += [_sample(f"n{i}", "im1", paths[1], f"What colour is it, take {i}?", opts) for i in range(2)]
    samples += [_sample("o0", "im2", paths[2], "What is written?", opts)]
    samples += [_sample("t0", None, None, "Text only: 2+2?", ["3", "4", "5", "6"])]
    samples += [_sample(f"c0#{k}", "im3", paths[3], "Which option is right?", opts[k:] + opts[:k]) for k in range(4)]
    samples += [_sample("d0", "dup", paths[4], "Same key, first image", opts),
                _sample("d1", "dup", paths[5], "Same key, second image", opts)]
    return samples


OCCURRENCES, DISTINCT = 13, 6  # image occurrences / distinct pixel contents (the two "dup" images differ)


@pytest.fixture(scope="module")
def tiny_awaker(tiny_cache_dir):
    from awaker_eval.config.schema import ModelConfig
    from awaker_eval.models.factory import build_model

    return build_model(ModelConfig(name="awaker_tiny", kind="awaker2_5_vl", checkpoint="tiny", dtype="float32",
                                   device="cpu", cache_dir=str(tiny_cache_dir)))


def finalize(sample, output):
    pred = finalize_letter(sample, output)
    pred.routing = output.routing
    return pred


def _run(model, samples, run_dir, mode, reuse):
    settings = EngineSettings(mode=mode, batch_size=3, progress=False, generation=GenerationSettings(max_new_tokens=3),
                              min_pixels=28 * 28, max_pixels=56 * 56, reuse_vision=reuse)
    return run_inference(samples, encode, model, finalize, run_dir, "p", "m", settings)


def _outputs(result):
    return [(p.id, p.raw_output, p.choice_logprobs, p.routing, p.error) for p in result.predictions]


@pytest.mark.parametrize("which,mode", [("tiny_awaker", "generate"), ("tiny_awaker", "choice"),
                                        ("tiny_model", "generate")])
def test_reuse_on_and_off_give_identical_predictions_and_routing(which, mode, request, shared_image_samples, tmp_path):
    model = request.getfixturevalue(which)
    off = _run(model, shared_image_samples, tmp_path / "off", mode, reuse=False)
    on = _run(model, shared_image_samples, tmp_path / "on", mode, reuse=True)
    assert _outputs(on) == _outputs(off)
    assert all(p.error is None for p in on.predictions)
    if which == "tiny_awaker":
        assert all(p.routing["prefill"]["expert"] for p in on.predictions)
    assert off.to_dict()["vision_images_encoded"] == OCCURRENCES and off.to_dict()["vision_images_reused"] == 0
    assert (on.to_dict()["vision_images_encoded"], on.to_dict()["vision_images_reused"]) == (
        DISTINCT, OCCURRENCES - DISTINCT)
    assert model.vision_cache.size == 0  # every entry released once its last question was done


def test_planning_keeps_an_images_questions_consecutive(shared_image_samples):
    costs = [10, 30, 20, 5, 7, 8, 25, 1, 3, 3, 3, 3, 9, 9]
    groups = [image_group(s) for s in shared_image_samples]
    order = order_by_cost(costs, groups)
    assert order == [1, 2, 0, 3, 6, 12, 13, 5, 4, 8, 9, 10, 11, 7]
    assert order_by_cost(costs) == sorted(range(14), key=lambda i: (-costs[i], i))  # no groups: as before
    assert groups[7] is None and groups[0] == ("im0",)


def test_cache_encodes_each_image_alone_and_releases_unused_entries():
    calls = []

    def encode_one(pixels, grid):
        calls.append(pixels.shape[0])
        return pixels.sum(dim=1, keepdim=True)

    cache = VisionFeatureCache(reuse=True)
    pv = torch.arange(20.0).reshape(10, 2)
    grid = torch.tensor([[1, 2, 2], [1, 2, 3]])
    a = cache.features(encode_one, pv, grid, ["x", "y"])
    b = cache.features(encode_one, pv[:4], grid[:1], ["x"])
    assert calls == [4, 6] and torch.equal(a[0], b[0]) and cache.counts.as_dict() == {
        "vision_images_encoded": 2, "vision_images_reused": 1}
    cache.end_batch()
    assert cache.size == 2  # both used by this batch
    cache.features(encode_one, pv[:4], grid[:1], ["x"])
    cache.end_batch()
    assert cache.size == 1  # "y" had no question in the last batch: released
    with pytest.raises(ValueError, match="pixel_values has 10 patches, image_grid_thw says 4"):
        cache.features(encode_one, pv, grid[:1], ["x"])
    off = VisionFeatureCache(reuse=False)
    off.features(encode_one, pv, grid, ["x", "y"])
    off.features(encode_one, pv, grid, ["x", "y"])
    assert off.counts.encoded == 4 and off.size == 0


def test_digests_never_reach_a_direct_model_call(tiny_model, shared_image_samples):
    """The digests are visible to the vision encoder only inside generate / score_choices."""
    tiny_model.set_vision_reuse(True)
    prepared = tiny_model.preparer()([encode(shared_image_samples[0]), encode(shared_image_samples[4])])
    assert len(prepared["image_digests"]) == 2 and len(set(prepared["image_digests"])) == 2
    tiny_model.generate(prepared, GenerationSettings(max_new_tokens=1))
    assert tiny_model._digests is None
    inputs = tiny_model._to_device(prepared)
    assert "image_digests" not in inputs
    tiny_model.set_vision_reuse(False)
    assert "image_digests" not in tiny_model.preparer()([encode(shared_image_samples[0])])
