"""Token-budget batch planning and header-only prompt-length estimates."""

from __future__ import annotations

from PIL import Image

from awaker_eval.engine.batching import estimate_cost, image_size, order_by_cost, plan_batches, text_tokens
from awaker_eval.models.base import VisionLanguageModel
from awaker_eval.types import Choice, ImageRef, Sample


def test_order_is_by_decreasing_cost_then_index():
    assert order_by_cost([5, 9, 5, 1, 9]) == [1, 4, 0, 2, 3]


def test_plan_respects_count_and_padded_token_budget():
    costs = [100, 90, 90, 50, 40, 40, 40, 10]
    order = order_by_cost(costs)
    plan = plan_batches(order, costs, max_batch_size=3, max_batch_tokens=200)
    assert [b.indices for b in plan] == [(0, 1), (2, 3), (4, 5, 6), (7,)]
    assert [b.padded_tokens for b in plan] == [200, 180, 120, 10]
    assert [b.indices for b in plan_batches(order, costs, 3, None)] == [(0, 1, 2), (3, 4, 5), (6, 7)]
    # a sample above the budget still forms its own batch
    assert [b.indices for b in plan_batches([0, 1], [500, 10], 8, 100)] == [(0,), (1,)]


def test_visual_tokens_default_is_qwen2_vl_geometry():
    vt = VisionLanguageModel.visual_tokens
    assert vt(None, 1000, 1500, None, None) == 36 * 54  # smart_resize -> 1008 x 1512
    assert vt(None, 1000, 1500, None, 512 * 28 * 28) == 18 * 27
    assert vt(None, 40, 30, None, None) == 3 * 2  # upscaled to the 4-token minimum area


def test_cost_reads_only_the_header(tmp_path):
    path = tmp_path / "big.png"
    Image.new("RGB", (1000, 1500), (1, 2, 3)).save(path)
    ref = ImageRef(key="big", path=str(path))
    assert image_size(ref) == (1000, 1500)
    assert image_size(ImageRef(key="mem", data=path.read_bytes())) == (1000, 1500)
    assert image_size(ImageRef(key="bad", data=b"nope")) is None
    sample = Sample(id="s", benchmark="b", language="en", question="q" * 30, answer="A", images=(ref,),
                    choices=(Choice("A", "yes", "A. yes"), Choice("B", "no", "B. no")))
    assert text_tokens(sample) == 24 + (30 + 8 + 7) // 3
    cost = estimate_cost(sample, lambda w, h, lo, hi: VisionLanguageModel.visual_tokens(None, w, h, lo, hi), None, None)
    assert cost == 1944 + 24 + 15


def test_cost_of_an_image_the_geometry_refuses_is_its_text_only(tmp_path):
    """qwen_vl_utils refuses an aspect ratio over 200: planning must not stop the run (the sample fails alone)."""
    path = tmp_path / "strip.png"
    Image.new("RGB", (6000, 20), (1, 2, 3)).save(path)
    sample = Sample(id="s", benchmark="b", language="en", question="q" * 30, answer="A",
                    images=(ImageRef(key="strip", path=str(path)),),
                    choices=(Choice("A", "yes", "A. yes"), Choice("B", "no", "B. no")))
    cost = estimate_cost(sample, lambda w, h, lo, hi: VisionLanguageModel.visual_tokens(None, w, h, lo, hi), None, None)
    assert cost == text_tokens(sample) == 24 + 15
