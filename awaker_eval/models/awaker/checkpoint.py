"""Reading an Awaker checkpoint (released ``.bin`` or converted safetensors) and loading it strictly.

One function, ``read_checkpoint``, serves both forms and returns tensors in the transformers-5 key layout. Loading
checks keys and shapes against the meta-built model first, so every problem is listed in one message.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Callable, Mapping

import torch

from awaker_eval.models.awaker import keymap
from awaker_eval.models.awaker.release import RELEASED_FILE
from awaker_eval.models.awaker.settings import AdapterSettings
from awaker_eval.models.weights_check import CorruptWeights, check_finite, verify_checksums

SAFETENSORS_INDEX = "model.safetensors.index.json"
SAFETENSORS_SINGLE = "model.safetensors"
ADAPTER_FILE = "adapter.json"  # adapter settings beside a checkpoint (r / alpha / experts); released values if absent


class CheckpointError(RuntimeError):
    """The checkpoint file cannot be used; the message names the file and the offending keys."""


def adapter_settings_for(checkpoint: Path) -> AdapterSettings:
    """``adapter.json`` beside (or inside) the checkpoint when present, else the released settings (r=256)."""
    folder = checkpoint if checkpoint.is_dir() else checkpoint.parent
    found = folder / ADAPTER_FILE
    return AdapterSettings.from_json(found) if found.exists() else AdapterSettings()


def _listing(title: str, items: list[str], shown: int = 5) -> str:
    more = f" (+{len(items) - shown} more)" if len(items) > shown else ""
    return f"{len(items)} {title}: {', '.join(items[:shown])}{more}"


def read_bin(path: Path) -> dict[str, torch.Tensor]:
    """The released flat ``OrderedDict[str, Tensor]`` pickle, memory-mapped, weights only."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a plain tensor checkpoint (weights-only load refused it: {exc})") from exc
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path}: expected a flat mapping of key -> tensor, found {type(obj).__name__}")
    bad = [f"{k!r} ({type(v).__name__})" for k, v in obj.items() if not (isinstance(k, str) and torch.is_tensor(v))]
    if bad:
        raise CheckpointError(f"{path}: {_listing('entries are not tensors', bad)} out of {len(obj)}")
    return dict(obj)


def safetensors_files(directory: Path) -> list[Path]:
    index = directory / SAFETENSORS_INDEX
    if index.exists():
        weight_map = json.loads(index.read_text())["weight_map"]
        return [directory / name for name in sorted(set(weight_map.values()))]
    if (directory / SAFETENSORS_SINGLE).exists():
        return [directory / SAFETENSORS_SINGLE]
    found = sorted(directory.glob("*.safetensors"))
    if not found:
        raise CheckpointError(f"{directory}: no {SAFETENSORS_INDEX}, {SAFETENSORS_SINGLE} or *.safetensors file")
    return found


def read_safetensors(files: list[Path], device: str = "cpu") -> dict[str, torch.Tensor]:
    """Tensors of one or more safetensors shards (zero-copy memory map on CPU)."""
    from safetensors import SafetensorError, safe_open

    out: dict[str, torch.Tensor] = {}
    for file in files:
        try:
            with safe_open(str(file), framework="pt", device=device) as fh:
                for key in fh.keys():
                    out[key] = fh.get_tensor(key)
        except SafetensorError as exc:  # e.g. a flipped byte in the header
            raise CheckpointError(f"{file}: not a readable safetensors file ({exc})") from exc
    return out


def checkpoint_files(path: Path) -> list[Path]:
    """The weight file(s) behind a checkpoint reference: a ``.bin``, a ``.safetensors`` file or a converted dir."""
    if path.is_dir():
        bins = sorted(path.glob("*.bin"))
        if list(path.glob("*.safetensors")) or not bins:
            return safetensors_files(path)
        if len(bins) == 1:
            return bins
        raise CheckpointError(f"{path}: several .bin files {[b.name for b in bins]}; pass the file itself")
    return [path]


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors in the transformers-5 layout from a released ``.bin``, a ``.safetensors`` file or a converted dir."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint not found")
    files = checkpoint_files(path)
    try:
        verify_checksums(files)  # only where a sidecar .sha256 or the hub cache gives the expected digest
    except CorruptWeights as exc:
        raise CheckpointError(str(exc)) from exc
    state = read_safetensors(files) if files[0].suffix == ".safetensors" else read_bin(files[0])
    if not state:
        raise CheckpointError(f"{path}: the checkpoint holds no tensors")
    try:
        layout = keymap.detect_layout(state)
    except keymap.KeyLayoutError as exc:
        raise CheckpointError(f"{path}: {exc}") from exc
    if layout == keymap.V5:
        return state
    return {keymap.convert_key(k, layout, keymap.V5): v for k, v in state.items()}


def key_problems(model: torch.nn.Module, state: Mapping[str, torch.Tensor]) -> dict[str, list[str]]:
    """``missing keys`` / ``unexpected keys`` / ``mis-shaped tensors`` of ``state`` against the model's state_dict."""
    expected = model.state_dict()
    return {
        "missing keys": [k for k in expected if k not in state],
        "unexpected keys": [k for k in state if k not in expected],
        "mis-shaped tensors": [
            f"{k} {list(state[k].shape)} != model {list(v.shape)}"
            for k, v in expected.items()
            if k in state and tuple(state[k].shape) != tuple(v.shape)
        ],
    }


def dtype_problems(model: torch.nn.Module, state: Mapping[str, torch.Tensor]) -> list[str]:
    """Tensors stored as integers / bool where the model holds floating-point values (quantised or corrupt)."""
    expected = model.state_dict()
    return [f"{k} ({str(state[k].dtype).replace('torch.', '')})" for k, v in expected.items()
            if k in state and v.is_floating_point() and not state[k].is_floating_point()]


def check_against(model: torch.nn.Module, state: Mapping[str, torch.Tensor], where: str) -> None:
    """Strict key and shape check against the model's state_dict (meta tensors are fine)."""
    found = key_problems(model, state)
    found["integer tensors where floating-point weights are expected"] = dtype_problems(model, state)
    problems = [_listing(title, items) for title, items in found.items() if items]
    if problems:
        raise CheckpointError(f"{where}: checkpoint does not match the model; " + "; ".join(problems))


def load_into(
    model: torch.nn.Module,
    state: Mapping[str, torch.Tensor],
    target: Callable[[str], tuple[torch.dtype, torch.device]],
    where: str,
) -> None:
    """Strict ``load_state_dict(assign=True)`` after moving each tensor to its target dtype/device one by one; each
    placed tensor is checked for NaN / Inf on its device (one reduction each) before the model is assembled."""
    check_against(model, state, where)
    placed = {}
    for key, tensor in state.items():
        dtype, device = target(key)
        placed[key] = tensor.to(device=device, dtype=dtype)
    try:
        check_finite(placed.items(), where)
    except CorruptWeights as exc:
        raise CheckpointError(str(exc)) from exc
    model.load_state_dict(placed, strict=True, assign=True)


def to_released_layout(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Transformers-5 keys → the released ``base_model.model.`` names (for writing fork-format checkpoints)."""
    return {keymap.convert_key(k, keymap.V5, keymap.RELEASED): v for k, v in state.items()}
