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
