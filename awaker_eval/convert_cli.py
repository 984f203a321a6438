"""``awaker-eval convert-checkpoint SRC DST``: the released ``pytorch_model.bin`` → sharded safetensors (new layout).

Keys are rewritten to the transformers-5 layout (pure prefix rewrite), values are copied unchanged (no dtype cast).
With ``--config`` the keys and shapes are checked strictly against the meta-built model before anything is written.
The result loads through the same ``checkpoint.read_checkpoint`` as the ``.bin``, memory-mapped and much faster.

This module only parses the arguments: the conversion (torch, transformers) loads after them.
"""

from __future__ import annotations

import argparse


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="awaker-eval convert-checkpoint", description=__doc__.splitlines()[0])
    p.add_argument("src", help="released pytorch_model.bin (or any checkpoint form read_checkpoint accepts)")
    p.add_argument("dst", help="output directory")
    p.add_argument("--max-shard-size", default="5GB")
    p.add_argument("--config", help="Qwen2-VL config.json / directory: check keys and shapes strictly first")
    p.add_argument("--adapter", help="adapter.json with r / alpha / experts (default: the adapter.json beside SRC, "
                                     "else the released settings)")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    # deliberately lazy (docs/architecture.md): the conversion loads torch and transformers
    from awaker_eval.models.awaker.convert import run

    return run(args)
