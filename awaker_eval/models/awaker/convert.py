"""The body of ``awaker-eval convert-checkpoint SRC DST`` (``convert_cli.py`` parses its arguments): the released
``pytorch_model.bin`` → sharded safetensors (new layout).

Keys are rewritten to the transformers-5 layout (pure prefix rewrite), values are copied unchanged (no dtype cast).
With ``--config`` the keys and shapes are checked strictly against the meta-built model before anything is written.
The result loads through the same ``checkpoint.read_checkpoint`` as the ``.bin``, memory-mapped and much faster.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from huggingface_hub import save_torch_state_dict

from awaker_eval.atomic_io import file_mode
from awaker_eval.models.awaker.build import build_skeleton, load_config
from awaker_eval.models.awaker.checkpoint import (ADAPTER_FILE, CheckpointError, adapter_settings_for, check_against,
                                                  read_checkpoint)
from awaker_eval.models.awaker.settings import AdapterSettings

LAYOUT_TAG = "transformers5"


def summary(state) -> dict:
    """Key count, parameter total and dtype histogram (the real checkpoint's dtypes are only inferred; spec §3.1)."""
    hist = Counter(str(t.dtype).replace("torch.", "") for t in state.values())
    return {"keys": len(state), "params": sum(t.numel() for t in state.values()), "dtypes": dict(sorted(hist.items()))}


def convert(src: str | Path, dst: str | Path, max_shard_size: str = "5GB", config: str | None = None,
            adapter: str | None = None) -> dict:
    """Write ``dst/model*.safetensors`` (+ index), ``dst/adapter.json`` and ``dst/awaker_checkpoint.json``.

    The adapter settings are ``adapter`` if given, else the ``adapter.json`` beside ``src``, else the released ones;
    they are written beside the shards so that the backend builds the same skeleton for ``dst``. Returns the summary."""
    settings = AdapterSettings.from_json(adapter) if adapter else adapter_settings_for(Path(src))
    state = read_checkpoint(src)
    if config is not None:
        check_against(build_skeleton(load_config(config), settings), state, str(src))
    dst = Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    settings.to_json(dst / ADAPTER_FILE)
    save_torch_state_dict(state, dst, max_shard_size=max_shard_size,
                          metadata={"format": "pt", "awaker_layout": LAYOUT_TAG, "source": Path(src).name})
    info = summary(state) | {"layout": LAYOUT_TAG, "source": str(src)}
    (dst / "awaker_checkpoint.json").write_text(json.dumps(info, indent=2) + "\n")
    for shard in dst.glob("*.safetensors"):  # the shard writer leaves them 0600: the umask decides, as for open()
        shard.chmod(file_mode())
    return info


def run(args: argparse.Namespace) -> int:
    """The conversion the command's arguments ask for (``convert_cli`` parsed them); its exit status."""
    try:
        info = convert(args.src, args.dst, args.max_shard_size, args.config, args.adapter)
    except (CheckpointError, ValueError) as exc:  # ValueError: a malformed adapter.json
        print(f"convert-checkpoint: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.dst}: {info['keys']} tensors, {info['params']:,} parameters, dtypes {info['dtypes']}")
    return 0
