"""Reading a golden fixture directory (format of ``shared/awaker_golden``): config, checkpoint, inputs, expectations.

Any directory in that format works: sample names, runs, tolerances and generation settings all come from its files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from awaker_eval.models.awaker.prompt_pos import SpecialTokens
from awaker_eval.models.options import GOLDEN_RUNS
from awaker_eval.models.awaker.settings import AdapterSettings

RUN_OF_DTYPE = GOLDEN_RUNS
BATCH = "batch"


class GoldenFormatError(ValueError):
    """The directory is not in the golden fixture format; the message names the missing file or key."""


@dataclass
class GoldenCase:
    """Inputs of one sample (or the padded batch), always with a batch dimension."""

    name: str
    tensors: dict[str, torch.Tensor]  # input_ids, attention_mask, prompt_pos, position_ids, [pixel_values, image_grid_thw]

    @property
    def has_images(self) -> bool:
        return "pixel_values" in self.tensors


@dataclass
class GoldenFixture:
    root: Path
    config: dict[str, Any]
    adapter: AdapterSettings
    checkpoint: Path
    tokens: SpecialTokens
    cases: list[GoldenCase]
    expected_meta: dict[str, Any]
    expected_file: Path

    def tolerances(self, run: str) -> dict[str, Any]:
        try:
            return self.expected_meta["tolerances"][run]
        except KeyError as exc:
            raise GoldenFormatError(f"{self.root}/expected.json: no tolerances for run {run!r}") from exc

    def runs(self) -> list[str]:
        return [r for r in self.expected_meta.get("runs", {}) if r in RUN_OF_DTYPE.values()]

    def expected(self, run: str, case: str) -> dict[str, torch.Tensor]:
        """``<mode>/<quantity>`` -> tensor for one run and case (batch dimension added for single samples)."""
        from safetensors import safe_open

        prefix = f"{run}/{case}/"
        out = {}
        with safe_open(str(self.expected_file), framework="pt") as fh:
            for key in fh.keys():
                if key.startswith(prefix):
                    sub = key[len(prefix):]
                    t = fh.get_tensor(key)
                    out[sub] = t if case == BATCH else _add_batch_dim(sub, t)
        if not out:
            raise GoldenFormatError(f"{self.expected_file}: no tensors under {prefix!r}")
        return out


def _add_batch_dim(sub: str, t: torch.Tensor) -> torch.Tensor:
    """Single-sample tensors lack B: it comes after S for per-step gen tensors, first otherwise (README layout)."""
    mode, _, quantity = sub.partition("/")
    if quantity in ("q_len", "image_features"):
        return t
    if mode.startswith("gen") and quantity in ("step_logits", "route_expert", "route_p", "route_probs"):
        return t.unsqueeze(1)
    return t.unsqueeze(0)


def _read_json(path: Path) -> Any:
    if not path.exists():
        raise GoldenFormatError(f"{path}: missing (not a golden fixture directory?)")
    return json.loads(path.read_text())


def load_fixture(root: str | Path) -> GoldenFixture:
    from safetensors.torch import load_file

    root = Path(root)
    config = _read_json(root / "config.json")
    inputs_meta = _read_json(root / "inputs.json")
    expected_meta = _read_json(root / "expected.json")
    adapter = AdapterSettings.from_json(root / "adapter.json") if (root / "adapter.json").exists() else AdapterSettings()
    bins = sorted(root.glob("*.bin"))
    if len(bins) != 1:
        raise GoldenFormatError(f"{root}: expected exactly one fork-format *.bin checkpoint, found {len(bins)}")
    for name in ("inputs.safetensors", "expected.safetensors"):
        if not (root / name).exists():
            raise GoldenFormatError(f"{root / name}: missing")
    tensors = load_file(str(root / "inputs.safetensors"))
    names = [s["name"] for s in inputs_meta.get("samples", [])]
    if any(k.startswith(f"{BATCH}/") for k in tensors):
        names.append(BATCH)
    cases = []
    for name in names:
        prefix = f"{name}/"
        own = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix) and "_rgb" not in k}
        if "input_ids" not in own:
            raise GoldenFormatError(f"{root}/inputs.safetensors: no {prefix}input_ids")
        cases.append(GoldenCase(name, own))
    return GoldenFixture(
        root=root,
        config=config,
        adapter=adapter,
        checkpoint=bins[0],
        tokens=SpecialTokens.from_mapping(inputs_meta.get("special_ids", {}), where=str(root / "inputs.json")),
        cases=cases,
        expected_meta=expected_meta,
        expected_file=root / "expected.safetensors",
    )
