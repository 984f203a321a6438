"""The protocol knobs a score difference is attributed to, read from two runs' saved settings.

Why these: every "why is my number different" thread ends at the same few settings (prompt protocol, answer
extractor, resolution, decoding length, generate vs choice scoring). Each is an explicit, recorded setting here; a
preset is nothing but its knobs (``conf/preset/``), so two runs made with and without a preset differ in the knobs
the preset sets. Everything else that changes predictions (the model, the data, the items) must be equal, or an
attribution would blame a knob for a difference it did not cause.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# (dotted key, default when a saved config lacks it): the knobs, in the order they are printed
KNOBS: tuple[tuple[str, Any], ...] = (
    ("benchmark.protocol", "official"),
    ("benchmark.extractor", "official"),
    ("benchmark.min_pixels", None),
    ("benchmark.max_pixels", None),
    ("benchmark.max_new_tokens", 16),
    ("runner.mode", "generate"),
    ("runner.repetition_penalty", 1.0),  # set by preset=awaker_readme: a knob a preset turns
)
KNOB_NAMES = tuple(name for name, _ in KNOBS)
EXTRACTOR = "benchmark.extractor"
# Benchmark settings that decide which data and items a run scored: equal in both runs, or no attribution.
DATA_KEYS = ("name", "kind", "language", "version", "split", "variant", "layout", "source", "revision", "data_files",
             "image_root", "limit", "subset", "subset_seed", "sample_size", "judge")
DATA_DEFAULTS = {"subset": "first", "subset_seed": 0}  # settings added later (runs saved before them lack them)


def _get(config: dict, dotted: str, default: Any = None) -> Any:
    section, key = dotted.split(".", 1)
    value = ((config or {}).get(section) or {}).get(key)
    return default if value is None else value


def knob_values(config: dict) -> dict[str, Any]:
    """Every knob's value in one run's saved config (``config.yaml``)."""
    return {name: _get(config, name, default) for name, default in KNOBS}


def differing_knobs(a: dict, b: dict) -> list[str]:
    """The knobs whose values differ between two saved configs, in ``KNOBS`` order."""
    va, vb = knob_values(a), knob_values(b)
    return [name for name in KNOB_NAMES if va[name] != vb[name]]


def data_differences(a: dict, b: dict) -> list[str]:
    """``benchmark.<key>: a vs b`` for every data / item setting that differs (empty: same data and items)."""
    out = []
    for key in DATA_KEYS:
        va, vb = (_get(cfg, f"benchmark.{key}", DATA_DEFAULTS.get(key)) for cfg in (a, b))
        if va != vb:
            out.append(f"benchmark.{key}: {va!r} vs {vb!r}")
    return out


@dataclass(frozen=True)
class Configuration:
    """One configuration between A and B: bit i of ``mask`` set = knob i at B's value, else at A's."""

    mask: int
    values: dict[str, Any]

    def label(self, knobs: list[str]) -> str:
        """``A`` / ``B`` for the corners, else the knobs taken from B (``B: extractor, max_pixels``)."""
        taken = [short(k) for i, k in enumerate(knobs) if self.mask >> i & 1]
        if not taken:
            return "A"
        return "B" if len(taken) == len(knobs) else "B: " + ", ".join(taken)


def short(knob: str) -> str:
    """The knob's name without its section (``benchmark.max_pixels`` -> ``max_pixels``)."""
    return knob.split(".", 1)[1]


def configuration(mask: int, knobs: list[str], a: dict, b: dict) -> Configuration:
    """The knob values of configuration ``mask``: each differing knob from B where its bit is set, else from A."""
    va, vb = knob_values(a), knob_values(b)
    return Configuration(mask, {k: (vb if mask >> i & 1 else va)[k] for i, k in enumerate(knobs)})


def inference_key(config: Configuration, knobs: list[str]) -> int:
    """The mask without the extractor's bit: configurations sharing it differ only in how letters are read from
    the same raw outputs, so one inference serves them all (the others re-extract)."""
    if EXTRACTOR not in knobs:
        return config.mask
    return config.mask & ~(1 << knobs.index(EXTRACTOR))
