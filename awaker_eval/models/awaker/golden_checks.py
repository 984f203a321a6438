"""Running the port on a golden fixture and comparing every expected quantity within the fixture's tolerances.

Modes: ``forward`` (one pass, prefill routing), ``gen_fork`` (generate, fork routing) and ``gen_nocache`` (reproduced
with a KV cache and ``consistent`` routing, which the fixture README documents as equivalent).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch
from transformers import GenerationConfig
from transformers.modeling_outputs import BaseModelOutputWithPooling

from awaker_eval.models.awaker.golden_io import GoldenCase, GoldenFixture
from awaker_eval.models.awaker.prompt_pos import prompt_spans
from awaker_eval.models.awaker.settings import ROUTER_ORDER

GEN_MODES = {"gen_fork": "fork", "gen_nocache": "consistent"}
EXACT = {"route_expert", "ids", "q_len", "prompt_pos", "position_ids"}
TOLERANCE_KEY = {
    "route_p": "route_p_atol",
    "route_probs": "route_p_atol",
    "pooled": "pooled_atol",
    "pooled_prefill": "pooled_atol",
    "pooled_decode": "pooled_atol",
    "image_features": "image_features_atol",
    "logits_last": "logits_atol",
    "logits_all": "logits_atol",
    "step_logits": "logits_atol",
}


@dataclass
class CheckRow:
    run: str
    case: str
    quantity: str  # "<mode>/<name>"
    value: float  # max abs diff, or number of disagreeing elements for exact checks
    total: int  # elements compared
    tol: float | None  # None: exact; nan: informative only
    ok: bool
    note: str = ""


def mm_token_types(input_ids: torch.Tensor, config) -> torch.Tensor:
    """1 at image placeholders, 2 at video placeholders (what the processor returns as ``mm_token_type_ids``)."""
    types = torch.zeros_like(input_ids, dtype=torch.int32)
    types[input_ids == config.image_token_id] = 1
    types[input_ids == config.video_token_id] = 2
    return types


def _routing(records, n_layers: int) -> dict[str, torch.Tensor]:
    """Stacked CallRecords → ``route_expert``/``route_p`` ``[S, B, L, R]``, ``route_probs`` ``[S, B, L, R, E]``."""
    stacked = [r.stacked(2 * n_layers) for r in records]
    out = {}
    for name, key in (("route_expert", "expert"), ("route_p", "p"), ("route_probs", "probs"), ("router_logits", "logits")):
        t = torch.stack([s[key] for s in stacked])
        out[name] = t.reshape(t.shape[0], t.shape[1], n_layers, len(ROUTER_ORDER), *t.shape[3:])
    return out


@contextmanager
def substituted_image_features(model, features: torch.Tensor | None):
    """While active, the model's vision tower output is replaced by ``features`` ([image tokens, H], all images of
    the call concatenated), so only the language-model part of the port is compared (golden README diagnostic)."""
    if features is None:
        yield
        return
    inner = model.model
    merge = inner.visual.spatial_merge_size ** 2

    def fixed(pixel_values, image_grid_thw=None, **kwargs):
        sizes = (image_grid_thw.prod(-1) // merge).tolist()
        if sum(sizes) != features.shape[0]:
            raise ValueError(f"substituted image features have {features.shape[0]} rows, the images need {sum(sizes)}")
        return BaseModelOutputWithPooling(pooler_output=torch.split(features.to(inner.visual.dtype), sizes))

    inner.get_image_features = fixed
    try:
        yield
    finally:
        del inner.get_image_features  # back to the class method


@contextmanager
def recorded_image_features(model, into: list):
    """While active, each vision-tower result the model merges (``get_image_features(...).pooler_output``, one
    tensor per image) is appended to ``into``. Outputs carry it as ``image_outputs`` only in newer transformers;
    every supported version calls ``get_image_features``, so it is read there."""
    inner = model.model
    own = vars(inner).get("get_image_features")  # an instance override (substituted features), or None
    current = inner.get_image_features

    def recording(*args, **kwargs):
        result = current(*args, **kwargs)
        into.append(tuple(result.pooler_output))
        return result

    inner.get_image_features = recording
    try:
        yield into
    finally:
        if own is None:
            del inner.get_image_features  # back to the class method
        else:
            inner.get_image_features = own


@torch.no_grad()
def run_case(
    model, state, fixture: GoldenFixture, case: GoldenCase, image_features: torch.Tensor | None = None
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Our outputs for one case, keyed like the fixture; ``inputs/*`` pairs carry their own expected value.

    With ``image_features`` the vision tower's output is replaced by them (``substituted_image_features``)."""
    with substituted_image_features(model, image_features):
        return _run_case(model, state, fixture, case)


def _run_case(model, state, fixture: GoldenFixture, case: GoldenCase) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    cfg = model.config
    n_layers = cfg.text_config.num_hidden_layers
    t = case.tensors
    ids, mask = t["input_ids"], t["attention_mask"]
    spans = prompt_spans(ids, fixture.tokens, mask)
    mm = mm_token_types(ids, cfg)
    kwargs = dict(input_ids=ids, attention_mask=mask, mm_token_type_ids=mm)
    if case.has_images:
        kwargs.update(pixel_values=t["pixel_values"], image_grid_thw=t["image_grid_thw"])
    pairs = {"inputs/prompt_pos": (spans, t["prompt_pos"])}
    if case.has_images and "position_ids" in t:
        pos, _ = model.model.get_rope_index(ids, mm, t["image_grid_thw"], attention_mask=mask)
        keep = mask.bool()
        pairs["inputs/position_ids"] = (pos[:, keep], t["position_ids"][:, keep])

    ours: dict[str, torch.Tensor] = {}
    image_features: list[tuple[torch.Tensor, ...]] = []
    with state.session(ids, spans, mode="fork"), recorded_image_features(model, image_features):
        out = model(**kwargs)
    route = _routing(state.calls, n_layers)
    ours.update({f"forward/{k}": v[0] for k, v in route.items()})
    ours["forward/pooled"] = state.calls[0].route
    ours["forward/logits_last"] = out.logits[:, -1]
    ours["forward/logits_all"] = out.logits
    if image_features:
        ours["forward/image_features"] = torch.cat([f for call in image_features for f in call])

    gen = fixture.expected_meta.get("generation", {})
    config = GenerationConfig(
        max_new_tokens=int(gen.get("max_new_tokens", 6)), do_sample=False, num_beams=1,
        repetition_penalty=float(gen.get("repetition_penalty", 1.0)),
        eos_token_id=gen.get("eos_token_id"), pad_token_id=gen.get("pad_token_id"),
        output_logits=True, return_dict_in_generate=True,
    )
    for key, mode in GEN_MODES.items():
        with state.session(ids, spans, mode=mode):
            g = model.generate(**kwargs, generation_config=config)
        route = _routing(state.calls, n_layers)
        ours.update({f"{key}/{k}": v for k, v in route.items() if k != "router_logits"})
        ours[f"{key}/ids"] = g.sequences[:, ids.shape[1]:]
        ours[f"{key}/step_logits"] = torch.stack(g.logits)
        if mode == "fork":
            ours[f"{key}/q_len"] = torch.tensor([c.q_len for c in state.calls])
            ours[f"{key}/pooled_prefill"] = state.calls[0].route
            if len(state.calls) > 1:
                ours[f"{key}/pooled_decode"] = state.calls[1].route
    return pairs | {k: (v, None) for k, v in ours.items()}


def _tolerance(quantity: str, tolerances: dict, text_only: bool, accelerator: bool = False) -> float | None:
    """The fixture's tolerance for one quantity. The tight text-only logits bound reflects bit-identical CPU
    kernels; on an accelerator (other GEMM / attention kernels, spec §7.7) text-only samples get the general
    logits bound, while routing decisions and greedy ids stay exact."""
    name = quantity.rsplit("/", 1)[-1]
    if name in EXACT:
        return None
    key = TOLERANCE_KEY.get(name)
    if key is None:
        return float("nan")
    if key == "logits_atol" and text_only and not accelerator and "logits_atol_text_only_samples" in tolerances:
        key = "logits_atol_text_only_samples"
    return float(tolerances[key])


def compare(ours: torch.Tensor, expected: torch.Tensor, tol: float | None) -> tuple[float, int, bool, str]:
    ours, expected = ours.detach().cpu(), expected.detach().cpu()  # the model may run on an accelerator
    if tuple(ours.shape) != tuple(expected.shape):
        return float("inf"), expected.numel(), False, f"shape {list(ours.shape)} != expected {list(expected.shape)}"
    if tol is None:
        wrong = int((ours != expected).sum())
        return float(wrong), expected.numel(), wrong == 0, ""
    diff = (ours.float() - expected.float()).abs().max().item() if expected.numel() else 0.0
    ok = tol != tol or diff <= tol  # nan tolerance: informative row
    return diff, expected.numel(), ok and diff == diff, ""


SUBSTITUTED = "forward/image_features"


def can_substitute(case: GoldenCase, rows: list[CheckRow], expected_keys) -> bool:
    """The README diagnostic applies: an image case with a failed check and expected image features to feed in."""
    return case.has_images and any(not r.ok for r in rows) and SUBSTITUTED in expected_keys


def check_case(
    model, state, fixture: GoldenFixture, run: str, case: GoldenCase, substitute: bool = False
) -> list[CheckRow]:
    """Every expected quantity of one case; ``substitute`` feeds the fixture's image features instead of our vision
    tower's (the image-features row itself is then skipped: it would compare the fixture with itself)."""
    tolerances = fixture.tolerances(run)
    expected = fixture.expected(run, case.name)
    features = expected.get(SUBSTITUTED) if substitute else None
    if substitute and features is None:
        raise ValueError(f"{fixture.expected_file}: {run}/{case.name} has no {SUBSTITUTED} to substitute")
    produced = run_case(model, state, fixture, case, image_features=features)
    rows = []
    for quantity, (ours, own_expected) in produced.items():
        exp = own_expected if own_expected is not None else expected.get(quantity)
        if exp is None or (substitute and quantity == SUBSTITUTED):
            continue
        tol = _tolerance(quantity, tolerances, text_only=not case.has_images, accelerator=model.device.type != "cpu")
        value, total, ok, note = compare(ours, exp, tol)
        rows.append(CheckRow(run, case.name, quantity, value, total, tol, ok, note))
    unused = sorted(set(expected) - set(produced))
    for quantity in unused:
        # gen_nocache is reproduced with a KV cache: its query lengths differ by design
        if quantity == "gen_nocache/q_len" or (substitute and quantity == SUBSTITUTED):
            continue
        rows.append(CheckRow(run, case.name, quantity, float("nan"), 0, None, False, "expected but not produced"))
    return rows
