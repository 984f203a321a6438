"""``awaker-eval verify-golden DIR [--dtype float32|bfloat16]``: check the port against a golden fixture directory.

Builds the model from the fixture's config and fork-format checkpoint (strict), runs every sample and the padded
batch in ``forward``, ``gen_fork`` and ``gen_nocache`` modes, prints max differences / agreements per quantity and
exits 0 only when every check is within the tolerances recorded in the fixture. When a check on an image sample
fails, the sample is rerun with the fixture's ``forward/image_features`` in place of our vision tower's output and a
second table says whether the language-model part then matches (the fixture README's recommended diagnostic).

This module only parses the arguments: the check itself (torch, transformers) loads after them, so ``--help`` and
a bad option answer at once.
"""

from __future__ import annotations

import argparse

from awaker_eval.models.options import GOLDEN_RUNS


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="awaker-eval verify-golden", description=__doc__.splitlines()[0])
    p.add_argument("directory", help="golden fixture directory (format of shared/awaker_golden)")
    p.add_argument("--dtype", choices=sorted(GOLDEN_RUNS), action="append",
                   help="run(s) to check (repeatable; default: every run the fixture has)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N | auto (default cpu)")
    p.add_argument("--attn-implementation", default="sdpa")
    p.add_argument("--all-rows", action="store_true", help="print every (case, quantity) row, not only the summary")
    p.add_argument("--substitute-image-features", action="store_true",
                   help="run the image-feature substitution diagnostic on every image case, not only failing ones")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    # deliberately lazy (docs/architecture.md): the check's body loads torch and transformers
    from awaker_eval.models.awaker.verify_golden import run

    return run(args)
