"""verify-golden's diagnostic: with the fixture's image features substituted, the bf16 language-model part matches."""

from __future__ import annotations

import copy

import pytest
import torch
from conftest import shared_path

from awaker_eval.models.awaker.golden_checks import can_substitute, check_case, substituted_image_features
from awaker_eval.models.awaker.golden_io import load_fixture
from awaker_eval.models.awaker.verify_golden import print_substitution

LOGITS = ("forward/logits_last", "forward/logits_all", "gen_fork/step_logits", "gen_nocache/step_logits")


@pytest.fixture(scope="module")
def bf16():
    from awaker_eval.models.awaker.build import build_awaker, load_config
    from awaker_eval.models.awaker.checkpoint import read_checkpoint

    fixture = load_fixture(shared_path("awaker_golden"))
    tight = copy.deepcopy(fixture)  # bf16 logits must be exact here: our vision tower's ulps make them fail
    tight.expected_meta["tolerances"]["bf16"]["logits_atol"] = 0.0
    model, state = build_awaker(load_config(fixture.config), fixture.adapter, read_checkpoint(fixture.checkpoint),
                                dtype="bfloat16")
    return tight, model, state


# Observed with substitution: forward and gen_fork logits bit-identical; gen_nocache (reproduced here with a KV cache
# and consistent routing, recomputed without a cache by the reference) within one bf16 step of 0.125 on s3_img2.
@pytest.mark.parametrize("name, nocache_diff, verdict", [
    ("s0_img", 0.0, "language-model part matches: the differences come from the vision tower"),
    ("s3_img2", 0.125, "language-model part still differs (1 checks fail)"),
])
def test_substituted_image_features_make_bf16_logits_bit_identical(bf16, name, nocache_diff, verdict, capsys):
    fixture, model, state = bf16
    case = next(c for c in fixture.cases if c.name == name)
    rows = check_case(model, state, fixture, "bf16", case)
    failed = {r.quantity for r in rows if not r.ok}
    assert failed and failed <= set(LOGITS)  # only logits differ, every routing decision / id agrees
    assert max(r.value for r in rows if r.quantity in LOGITS) <= 1.5
    assert can_substitute(case, rows, fixture.expected("bf16", name))

    fixed = check_case(model, state, fixture, "bf16", case, substitute=True)
    assert "forward/image_features" not in {r.quantity for r in fixed}
    logits = {r.quantity: r.value for r in fixed if r.quantity in LOGITS}
    assert logits.pop("gen_nocache/step_logits") == nocache_diff
    assert set(logits.values()) == {0.0} and "forward/logits_last" in logits and "gen_fork/step_logits" in logits
    assert all(r.ok for r in fixed if r.quantity not in LOGITS)  # routing, pooled vectors, ids: exact
    assert all(r.value <= 1.5 for r in fixed if r.quantity in LOGITS)  # the fixture's own bf16 tolerance

    print_substitution(rows, fixed)
    assert f"bf16/{name}: {verdict}" in capsys.readouterr().out


def test_substitution_is_undone_and_checks_the_row_count(bf16):
    fixture, model, state = bf16
    case = next(c for c in fixture.cases if c.name == "s0_img")
    with pytest.raises(ValueError, match="substituted image features have 5 rows, the images need 6"):
        with substituted_image_features(model, torch.zeros(5, 64)):
            model.model.get_image_features(case.tensors["pixel_values"], case.tensors["image_grid_thw"])
    assert "get_image_features" not in vars(model.model)
    text = next(c for c in fixture.cases if c.name == "s2_txt")
    assert not can_substitute(text, check_case(model, state, fixture, "bf16", text), {"forward/image_features"})
