"""Manual check of the released Awaker2.5-VL checkpoint (spec §7.8; not run in CI: it needs ~22 GB + ~16 GB).

    python scripts/check_real_awaker_checkpoint.py [--checkpoint MetabrainAGI/Awaker2.5-VL] [--revision 0e6c388c6f50d4619e709d82dec42509d459ba44]
        [--base Qwen/Qwen2-VL-7B-Instruct] [--base-revision REV] [--device auto] [--dtype bfloat16]
    python scripts/check_real_awaker_checkpoint.py --dry-run [--cache-dir DIR]   # the offline tiny Awaker instead

Loads the checkpoint memory-mapped and reports: missing / unexpected / mis-shaped keys against the meta-built
model, the dtype histogram (overall and per key category), whether every router ``ln.weight`` is all ones, whether
the base tensors equal the base model's (streamed tensor by tensor from its safetensors shards, never a full copy),
the parameter total, and a short greedy generation (with its routing record) on one synthetic image. Exit code 0
when the keys match and the generation ran; the equalities are reported, not enforced.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

REAL_PARAMETERS = 11_081_591_520
REAL_KEYS = 2186


def base_comparison(state, base_dir: Path) -> dict:
    """Compare the checkpoint's base tensors with the base model's shards, one tensor at a time (the base tensor is cast
    to the checkpoint's dtype first: a no-op for the bf16 Qwen2-VL-7B-Instruct shards, bf16 rounding for the tiny base)."""
    import torch
    from safetensors import safe_open

    from awaker_eval.models.awaker import keymap
    from awaker_eval.models.awaker.checkpoint import safetensors_files

    base_keys = [k for k in state if keymap.key_category(k) == keymap.BASE]
    seen, equal, differ = set(), 0, []
    for file in safetensors_files(base_dir):
        with safe_open(str(file), framework="pt") as fh:
            keys = list(fh.keys())
            layout = keymap.detect_layout(keys)
            for key in keys:
                ours_key = keymap.convert_key(key, layout, keymap.V5)
                if ours_key not in state:
                    continue
                seen.add(ours_key)
                theirs, ours = fh.get_tensor(key), state[ours_key]
                if ours.shape == theirs.shape and torch.equal(ours, theirs.to(ours.dtype)):
                    equal += 1
                else:
                    diff = (ours.float() - theirs.float()).abs().max().item() if ours.shape == theirs.shape else None
                    differ.append(f"{ours_key} (max abs diff {diff})")
                del theirs
    return {"base_keys": len(base_keys), "equal": equal, "differ": differ,
            "absent_from_base": sorted(set(base_keys) - seen)}


def synthetic_conversation():
    """One 336x448 colour-gradient image with a question (no data needed)."""
    import numpy as np
    from PIL import Image

    y, x = np.mgrid[0:336, 0:448]
    pixels = np.stack([x * 255 // 447, y * 255 // 335, (x + y) * 255 // 782], axis=-1).astype(np.uint8)
    text = "Describe the colours of this image in a few words."
    return [{"role": "user", "content": [{"type": "image", "image": Image.fromarray(pixels)},
                                         {"type": "text", "text": text}]}]


def check(ckpt: Path, base_dir: Path, model_cfg, max_new_tokens: int) -> dict:
    """Every report item for one checkpoint + base directory; ``model_cfg`` loads the same pair for generation."""
    from awaker_eval.models.awaker import keymap
    from awaker_eval.models.awaker.build import build_skeleton, load_config
    from awaker_eval.models.awaker.checkpoint import adapter_settings_for, key_problems, read_checkpoint
    from awaker_eval.models.awaker.convert import summary
    from awaker_eval.models.base import GenerationSettings
    from awaker_eval.models.factory import build_model

    state = read_checkpoint(ckpt)  # memory-mapped, keys in the transformers-5 layout
    problems = key_problems(build_skeleton(load_config(base_dir), adapter_settings_for(ckpt)), state)
    by_category: dict[str, Counter] = defaultdict(Counter)
    for key, t in state.items():
        by_category[keymap.key_category(key)][str(t.dtype).replace("torch.", "")] += 1
    ln = [k for k in state if k.endswith(".ln.weight")]
    report = {
        "checkpoint": str(ckpt),
        "base": str(base_dir),
        **summary(state),
        "key_problems": {k: len(v) for k, v in problems.items()},
        "key_problem_examples": {k: v[:5] for k, v in problems.items() if v},
        "dtypes_by_category": {c: dict(h) for c, h in sorted(by_category.items())},
        "router_ln": {"tensors": len(ln), "all_ones": sum(bool((state[k] == 1).all()) for k in ln)},
        "base_vs_reference": base_comparison(state, base_dir),
    }
    del state
    model = build_model(model_cfg)
    out = model.generate(model.prepare([synthetic_conversation()]), GenerationSettings(max_new_tokens=max_new_tokens))
    report["generation"] = {"text": out[0].text, "routing": out[0].routing}
    return report


def print_report(report: dict, expected_params: int | None) -> None:
    print(f"checkpoint: {report['checkpoint']}\nbase:       {report['base']}")
    print(f"keys: {report['keys']}" + (f" (released: {REAL_KEYS})" if expected_params else ""))
    for title, n in report["key_problems"].items():
        examples = report["key_problem_examples"].get(title, [])
        print(f"{title}: {n}" + (f"  e.g. {examples}" if examples else ""))
    print(f"dtypes: {report['dtypes']}")
    for category, hist in report["dtypes_by_category"].items():
        print(f"  {category:<9} {hist}")
    ln = report["router_ln"]
    print(f"router ln.weight all ones: {ln['all_ones']} of {ln['tensors']} tensors")
    cmp = report["base_vs_reference"]
    print(f"base tensors equal to the base model's: {cmp['equal']} of {cmp['base_keys']}; "
          f"differ {len(cmp['differ'])} {cmp['differ'][:3]}; absent from base {len(cmp['absent_from_base'])} "
          f"{cmp['absent_from_base'][:3]}")
    total = f"parameters: {report['params']:,}"
    if expected_params:
        total += f" (expected {expected_params:,}: {'ok' if report['params'] == expected_params else 'MISMATCH'})"
    print(total)
    print(f"generation: {report['generation']['text']!r}\nrouting: {json.dumps(report['generation']['routing'])}")


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default="MetabrainAGI/Awaker2.5-VL", help="hub id, local .bin or converted dir")
    p.add_argument("--revision", default="0e6c388c6f50d4619e709d82dec42509d459ba44")
    p.add_argument("--base", default="Qwen/Qwen2-VL-7B-Instruct", help="hub id or local dir of the base model")
    p.add_argument("--base-revision")
    p.add_argument("--device", default="auto")
    p.add_argument("--dtype", default="bfloat16")
    p.add_argument("--max-new-tokens", type=int, default=16)
    p.add_argument("--dry-run", action="store_true", help="check the offline tiny Awaker (built in --cache-dir)")
    p.add_argument("--cache-dir", help="cache of the tiny models for --dry-run (default ~/.cache/awaker_eval)")
    p.add_argument("--json", type=Path, help="also write the report as JSON here")
    args = p.parse_args(argv)

    from awaker_eval.config.schema import ModelConfig
    from awaker_eval.models.awaker.backend import full_revision, resolve_awaker_checkpoint
    from awaker_eval.models.loading import looks_like_local_path, resolve_checkpoint

    if args.dry_run:
        from awaker_eval.models.awaker.tiny import tiny_awaker_paths
        from awaker_eval.models.options import TINY_CHECKPOINT

        base_dir, ckpt = tiny_awaker_paths(args.cache_dir)
        cfg = ModelConfig(name="awaker_tiny", kind="awaker2_5_vl", checkpoint=TINY_CHECKPOINT, dtype="float32",
                          device="cpu", cache_dir=args.cache_dir)
        expected = None
    else:
        ckpt = resolve_awaker_checkpoint(args.checkpoint, args.revision)
        base_rev = args.base_revision if looks_like_local_path(args.base) else full_revision(args.base, args.base_revision)
        base_dir = Path(resolve_checkpoint(args.base, base_rev, what="--base"))  # full: base tensors are compared
        cfg = ModelConfig(name="awaker2_5_vl", kind="awaker2_5_vl", path=str(base_dir), checkpoint=str(ckpt),
                          dtype=args.dtype, device=args.device)
        expected = REAL_PARAMETERS
    report = check(Path(ckpt), Path(base_dir), cfg, args.max_new_tokens)
    print_report(report, expected)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 1 if any(report["key_problems"].values()) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
