"""Key layouts of the Awaker checkpoint: the released peft layout and the transformers layouts (spec §3.3).

The adapter modules keep the released submodule names, so a prefix rewrite is the only transformation.
"""

from __future__ import annotations

RELEASED = "released"  # base_model.model.* (peft-wrapped state_dict, as in pytorch_model.bin)
V5 = "transformers5"  # transformers >= 4.52 / 5.x: model.language_model.*, model.visual.*, lm_head.*
LEGACY = "transformers4"  # transformers <= 4.51: model.*, visual.*, lm_head.*

_PREFIXES = {
    RELEASED: ("base_model.model.visual.", "base_model.model.model.", "base_model.model.lm_head."),
    V5: ("model.visual.", "model.language_model.", "lm_head."),
    LEGACY: ("visual.", "model.", "lm_head."),
}


# Key categories of the released checkpoint (counts in the real one: 730 / 168 / 896 / 224 / 168).
BASE, QKV_LORA, EXPERTS, GLOBAL, ROUTER = "base", "qkv_lora", "experts", "global", "router"


class KeyLayoutError(ValueError):
    """A key does not start with any prefix of its layout."""


def convert_key(key: str, src: str = RELEASED, dst: str = V5) -> str:
    """Rewrite one key's prefix from layout ``src`` to ``dst``."""
    for old, new in zip(_PREFIXES[src], _PREFIXES[dst]):
        if key.startswith(old):
            return new + key[len(old):]
    raise KeyLayoutError(f"key {key!r} has none of the {src} prefixes {_PREFIXES[src]}")


def convert_keys(keys, src: str = RELEASED, dst: str = V5) -> list[str]:
    return [convert_key(k, src, dst) for k in keys]


def detect_layout(keys) -> str:
    """The layout whose prefixes cover every key (released first: its prefixes are the most specific)."""
    keys = list(keys)
    for layout in (RELEASED, V5, LEGACY):
        if keys and all(k.startswith(_PREFIXES[layout]) for k in keys):
            return layout
    sample = [k for k in keys if not k.startswith(_PREFIXES[RELEASED])][:3]
    raise KeyLayoutError(f"keys match no known Awaker layout (e.g. {sample})")


def key_category(key: str, global_expert: str = "g") -> str:
    """Which part of the model a key (any layout) belongs to: base weight, q/k/v LoRA, expert, global expert, router."""
    if ".lora_A." in key or ".lora_B." in key:
        return QKV_LORA
    if ".lora_moe_" in key:
        return GLOBAL if key.split(".")[-2] == global_expert else EXPERTS
    if ".w_gate." in key or key.endswith(".ln.weight"):
        return ROUTER
    return BASE
