"""An offline tiny Awaker2.5-VL: the tiny random Qwen2-VL base (``models/tiny.py``) plus random adapters.

It is written in the released checkpoint format (a flat bf16 ``pytorch_model.bin`` with ``base_model.model.`` keys
beside an ``adapter.json``), so it goes through exactly the loader, key mapper and strict checks of the real 22 GB
file. Its base tensors are the tiny base's own weights rounded to bf16 (as the real checkpoint carries
Qwen2-VL-7B-Instruct's), and its routers are scaled so that different prompts route to different experts.
``model.checkpoint=tiny`` (``conf/model/awaker_tiny.yaml``) selects it; built once per cache directory and seed by
``models/materialize.py``, before the backend loads the written files like any checkpoint's.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import AutoProcessor, Qwen2VLForConditionalGeneration

from awaker_eval.build_once import build_once
from awaker_eval.models.awaker import keymap
from awaker_eval.models.awaker.build import build_skeleton, load_config
from awaker_eval.models.awaker.checkpoint import ADAPTER_FILE, RELEASED_FILE, read_checkpoint, to_released_layout
from awaker_eval.models.awaker.prompt_pos import SpecialTokens, prompt_spans
from awaker_eval.models.awaker.routing import span_mean
from awaker_eval.models.awaker.settings import AdapterSettings
from awaker_eval.models.qwen2_vl import Qwen2VLPreparer
from awaker_eval.models.tiny import default_cache_dir, ensure_tiny_checkpoint

TINY_AWAKER_VERSION = "tiny-awaker-v1"
TINY_SETTINGS = AdapterSettings(r=4, lora_alpha=8)
MARKER = "awaker_eval_tiny_awaker.json"
ROUTER_GAIN = 2.5  # std of a router logit across probe prompts (p stays well inside (1/E, 1))


PROBE_WORDS = ("what colour shape how many circle square text image left right top count answer option best "
               "question which object red green blue the is are of in on").split()


def _probe_conversation(gen: torch.Generator) -> list[dict]:
    """A chat with one smooth random image of random size and a random question (no benchmark involved)."""
    from PIL import Image

    h, w = (int(v) for v in torch.randint(56, 200, (2,), generator=gen))
    field = torch.nn.functional.interpolate(torch.rand(1, 3, 4, 4, generator=gen), size=(h, w), mode="bilinear")
    pixels = (field[0].permute(1, 2, 0) * 255).to(torch.uint8).numpy()
    n_words = int(torch.randint(5, 40, (1,), generator=gen))
    words = [PROBE_WORDS[int(i)] for i in torch.randint(len(PROBE_WORDS), (n_words,), generator=gen)]
    content = [{"type": "image", "image": Image.fromarray(pixels)}, {"type": "text", "text": " ".join(words)}]
    return [{"role": "user", "content": content}]


@torch.no_grad()
def probe_routes(base_dir: Path, n_probes: int = 12, seed: int = 0) -> torch.Tensor:
    """Router inputs of ``n_probes`` random image chats on the base model: ``[2 * n, H]``, the prefill vectors
    (image-merged embeddings) then the fork decode vectors (raw token embeddings), both mean-pooled over prompt_pos."""
    processor = AutoProcessor.from_pretrained(base_dir)
    model = Qwen2VLForConditionalGeneration.from_pretrained(base_dir, dtype=torch.float64).eval()  # stable bits
    tokens = SpecialTokens.from_tokenizer(processor.tokenizer)
    gen = torch.Generator().manual_seed(seed + 1)
    prefill, decode = [], []
    for _ in range(n_probes):
        inputs = Qwen2VLPreparer(processor)([_probe_conversation(gen)])
        ids = inputs["input_ids"]
        raw = model.get_input_embeddings()(ids)
        vision = model.model.get_image_features(inputs["pixel_values"], inputs["image_grid_thw"])
        features = torch.cat(vision.pooler_output)
        merged = raw.masked_scatter((ids == model.config.image_token_id)[..., None].expand_as(raw), features)
        spans = prompt_spans(ids, tokens)
        prefill.append(span_mean(merged, spans)[0])
        decode.append(span_mean(raw, spans)[0])
    return torch.stack(prefill + decode)


def calibrated_router(routes: torch.Tensor, ln_weight: torch.Tensor, n_experts: int, gen: torch.Generator):
    """``(w_gate.weight, w_gate.bias)`` whose logits ignore the probes' common direction(s) and spread ~ROUTER_GAIN.

    Pooled prompt vectors share a large common part (template tokens, image placeholders); a plain random router
    would send every prompt to the same expert. Projecting that part out of ``w_gate`` leaves the per-prompt
    differences to decide, so different prompts (and prefill vs decode) pick different experts.
    """
    routes, ln_weight = routes.double(), ln_weight.double()  # float64: results stable across thread counts
    normed = routes * torch.rsqrt(routes.pow(2).mean(-1, keepdim=True) + 1e-6) * ln_weight
    half = normed.shape[0] // 2
    common, _ = torch.linalg.qr(torch.stack([normed[:half].mean(0), normed[half:].mean(0)], dim=1))
    weight = torch.randn(n_experts, normed.shape[1], generator=gen).double()
    weight = weight - (weight @ common) @ common.T
    spread = (normed @ weight.T).std(dim=0).mean()
    return (weight * (ROUTER_GAIN / spread)).float(), 0.1 * torch.randn(n_experts, generator=gen)


def random_adapter_tensor(key: str, shape: torch.Size, gen: torch.Generator) -> torch.Tensor:
    """Golden-fixture-like draws: LoRA A N(0, 1/in); B N(0, 0.04/r), non-zero but small enough that the base still
    answers with letters; router ``ln`` 1+N(0, 0.1²), so not all ones."""
    if key.endswith(".ln.weight"):
        return 1.0 + 0.1 * torch.randn(shape, generator=gen)
    fan = shape[-1]
    std = fan ** -0.5 if (".lora_A." in key or ".lora_moe_A." in key) else 0.2 / fan ** 0.5
    return std * torch.randn(shape, generator=gen)


def tiny_awaker_state(base_dir: str | Path, settings: AdapterSettings = TINY_SETTINGS, seed: int = 0):
    """Transformers-5 keyed bf16 state: the base checkpoint's tensors + seeded random adapters for every other key."""
    base = read_checkpoint(base_dir)
    routes = probe_routes(Path(base_dir), seed=seed)
    gen = torch.Generator().manual_seed(seed)
    state, skeleton = {}, build_skeleton(load_config(base_dir), settings).state_dict()
    for key, meta in skeleton.items():  # ``ln.weight`` comes before ``w_gate`` in this order
        category = keymap.key_category(key, settings.global_expert)
        if category == keymap.BASE:
            if key not in base:
                raise KeyError(f"{base_dir}: base weights lack {key!r}")
            state[key] = base[key]
        elif key.endswith(".w_gate.weight"):
            ln_weight = state[key.replace(".w_gate.weight", ".ln.weight")].float()
            weight, bias = calibrated_router(routes, ln_weight, meta.shape[0], gen)
            state[key], state[key.replace(".weight", ".bias")] = weight, bias
        elif not key.endswith(".w_gate.bias"):
            state[key] = random_adapter_tensor(key, meta.shape, gen)
    return {key: state[key].to(torch.bfloat16).contiguous() for key in skeleton}


def write_tiny_awaker(out_dir: Path, base_dir: Path, seed: int = 0, settings: AdapterSettings = TINY_SETTINGS) -> Path:
    """Write ``pytorch_model.bin`` (released keys), ``adapter.json`` and the marker into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.save(to_released_layout(tiny_awaker_state(base_dir, settings, seed)), out_dir / RELEASED_FILE)
    settings.to_json(out_dir / ADAPTER_FILE)
    (out_dir / MARKER).write_text(json.dumps({"version": TINY_AWAKER_VERSION, "seed": seed, "base": base_dir.name}))
    return out_dir


def tiny_awaker_paths(cache_dir: str | Path | None = None, seed: int = 0) -> tuple[Path, Path]:
    """``(base directory, checkpoint directory)`` of the tiny Awaker, building either once if needed."""
    base = ensure_tiny_checkpoint(cache_dir, seed=seed)
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    target = root / "models" / f"{TINY_AWAKER_VERSION}-seed{seed}"
    return base, build_once(target, MARKER, lambda tmp: write_tiny_awaker(tmp, base, seed))


def ensure_tiny_awaker_checkpoint(cache_dir: str | Path | None = None, seed: int = 0) -> Path:
    """The cached tiny Awaker checkpoint directory (``pytorch_model.bin`` + ``adapter.json``); its base is
    ``models.tiny.ensure_tiny_checkpoint(cache_dir, seed)``."""
    return tiny_awaker_paths(cache_dir, seed)[1]
