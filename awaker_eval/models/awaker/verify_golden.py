"""The body of ``awaker-eval verify-golden`` (``golden_cli.py`` parses its arguments): check the port against a
golden fixture directory.

Builds the model from the fixture's config and fork-format checkpoint (strict), runs every sample and the padded
batch in ``forward``, ``gen_fork`` and ``gen_nocache`` modes, prints max differences / agreements per quantity and
exits 0 only when every check is within the tolerances recorded in the fixture. When a check on an image sample
fails, the sample is rerun with the fixture's ``forward/image_features`` in place of our vision tower's output and a
second table says whether the language-model part then matches (the fixture README's recommended diagnostic).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict

import torch
from safetensors import SafetensorError

from awaker_eval.models.awaker.build import build_awaker, load_config
from awaker_eval.models.awaker.checkpoint import read_checkpoint
from awaker_eval.models.awaker.golden_checks import CheckRow, can_substitute, check_case
from awaker_eval.models.awaker.golden_io import RUN_OF_DTYPE, GoldenFormatError, load_fixture


def _fmt_value(row_value: float, total: int, tol: float | None) -> str:
    if tol is None:
        return f"agree {total - int(row_value)}/{total}" if row_value == row_value else "missing"
    return f"{row_value:.3g}"


def _fmt_tol(tol: float | None) -> str:
    if tol is None:
        return "exact"
    return "info" if tol != tol else f"{tol:.3g}"


def summarise(rows: list[CheckRow]) -> list[tuple[str, str, int, str, str, str, bool]]:
    """One line per (run, quantity, tolerance): worst value over the cases."""
    groups: dict[tuple, list[CheckRow]] = defaultdict(list)
    for r in rows:
        groups[(r.run, r.quantity, _fmt_tol(r.tol))].append(r)
    out = []
    for (run, quantity, tol), rs in groups.items():
        ok = all(r.ok for r in rs)
        if rs[0].tol is None:
            wrong, total = sum(r.value for r in rs), sum(r.total for r in rs)
            value, worst = _fmt_value(wrong, total, None), max(rs, key=lambda r: r.value).case
        else:
            worst_row = max(rs, key=lambda r: r.value if r.value == r.value else float("inf"))
            value, worst = _fmt_value(worst_row.value, worst_row.total, worst_row.tol), worst_row.case
        out.append((run, quantity, len(rs), value, tol, worst, ok))
    return out


def print_table(rows: list[CheckRow], all_rows: bool = False) -> None:
    header = f"{'run':<5} {'check':<28} {'cases':>5}  {'max diff / agreement':<22} {'tolerance':<10} {'worst case':<10} ok"
    print(header)
    print("-" * len(header))
    for run, quantity, n, value, tol, worst, ok in summarise(rows):
        print(f"{run:<5} {quantity:<28} {n:>5}  {value:<22} {tol:<10} {worst:<10} {'ok' if ok else 'FAIL'}")
    shown = rows if all_rows else [r for r in rows if not r.ok]
    if shown:
        print("\n" + ("all rows:" if all_rows else "failures:"))
        for r in shown:
            print(f"  {r.run}/{r.case}/{r.quantity}: {_fmt_value(r.value, r.total, r.tol)} (tolerance "
                  f"{_fmt_tol(r.tol)}) {'ok' if r.ok else 'FAIL'} {r.note}")


def verify(
    directory: str, dtypes: list[str] | None, device: str, attn: str, always_substitute: bool = False
) -> tuple[list[CheckRow], list[CheckRow]]:
    """``(rows, substituted)``: every check, then the diagnostic rerun of each image case that failed (or of every
    image case with ``always_substitute``) with the fixture's image features in place of our vision tower's."""
    fixture = load_fixture(directory)
    runs = [RUN_OF_DTYPE[d] for d in dtypes] if dtypes else fixture.runs()
    inverse = {v: k for k, v in RUN_OF_DTYPE.items()}
    rows: list[CheckRow] = []
    substituted: list[CheckRow] = []
    # Golden checks compare fp32 numbers: no TF32 shortcuts in cuDNN convolutions (the vision patch embedding) or
    # matmuls while they run on a GPU.
    saved_tf32 = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        for run in runs:
            _verify_run(fixture, run, inverse[run], device, attn, always_substitute, rows, substituted)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved_tf32
    return rows, substituted


def _verify_run(fixture, run: str, dtype: str, device: str, attn: str, always_substitute: bool,
                rows: list[CheckRow], substituted: list[CheckRow]) -> None:
    """Build the model for one run (dtype) and check every case, appending to ``rows`` / ``substituted``."""
    start = time.perf_counter()
    model, state = build_awaker(
        load_config(fixture.config), fixture.adapter, read_checkpoint(fixture.checkpoint), dtype=dtype,
        device=device, attn_implementation=attn, where=str(fixture.checkpoint),
    )
    with torch.no_grad():
        for case in fixture.cases:
            case.tensors = {k: v.to(model.device) for k, v in case.tensors.items()}
            case_rows = check_case(model, state, fixture, run, case)
            rows += case_rows
            failing = can_substitute(case, case_rows, fixture.expected(run, case.name))
            if failing or (always_substitute and case.has_images):
                substituted += check_case(model, state, fixture, run, case, substitute=True)
    print(f"[{run}] {len(fixture.cases)} cases checked in {time.perf_counter() - start:.1f} s", file=sys.stderr)


def kernels_line(device: str) -> str:
    """Which kernels produced the table: bf16 CPU results depend on ATen's dispatch (AVX2 vs AVX512 kernels round
    differently), GPU results on the device."""
    auto = "cuda" if torch.cuda.is_available() else "cpu"
    where = torch.device(auto if device == "auto" else device)
    if where.type == "cuda":
        name = torch.cuda.get_device_name(where)
        return f"kernels: {where}, {name}, torch {torch.__version__} (CUDA {torch.version.cuda})"
    return f"kernels: cpu, ATen CPU capability {torch.backends.cpu.get_cpu_capability()}, torch {torch.__version__}"


def print_substitution(rows: list[CheckRow], substituted: list[CheckRow]) -> None:
    """The second table and, per case, whether the language-model part matches once the image features are fixed."""
    print("\nWith the fixture's image features substituted for our vision tower's output (diagnostic; the exit code "
          "depends only on the table above):")
    print_table(substituted)
    for run, case in dict.fromkeys((r.run, r.case) for r in substituted):
        before = [r for r in rows if (r.run, r.case) == (run, case) and not r.ok]
        after = [r for r in substituted if (r.run, r.case) == (run, case) and not r.ok]
        if after:
            verdict = f"language-model part still differs ({len(after)} checks fail)"
        elif before:
            verdict = "language-model part matches: the differences come from the vision tower"
        else:
            verdict = "language-model part matches"
        print(f"  {run}/{case}: {verdict}")


def run(args: argparse.Namespace) -> int:
    """The check the command's arguments ask for (``golden_cli`` parsed them); its exit status."""
    try:
        rows, substituted = verify(args.directory, args.dtype, args.device, args.attn_implementation,
                                   args.substitute_image_features)
    except (GoldenFormatError, FileNotFoundError) as exc:
        print(f"verify-golden: {exc}", file=sys.stderr)
        return 2
    except SafetensorError as exc:  # its message names no file: name the fixture's tensor files
        print(f"verify-golden: {args.directory}: inputs.safetensors or expected.safetensors is unreadable ({exc})",
              file=sys.stderr)
        return 2
    print(kernels_line(args.device))
    print_table(rows, args.all_rows)
    if substituted:
        print_substitution(rows, substituted)
    failed = sum(not r.ok for r in rows)
    print(f"\n{len(rows)} checks, {failed} failed: {'PASS' if rows and not failed else 'FAIL'}")
    return 0 if rows and not failed else 1
