"""The device check's optional stages, run by ``scripts/gpu_checks.sh`` after the core while the slot has room, and
the closing table of the core and the stages.

A stage runs only when its estimate fits what is left of the slot (``--left-s``) and says so when it is skipped;
the first stage that fails stops the rest (``FAILED: <stage>: <last lines of its log>``, exit 1), as a core step
does. Outcomes are added to the core's report (``--report``) under ``optional``; each stage's output goes to
``<logs>/<stage>.log``.
  awaker_tiny_bs  the Hydra app on the tiny Awaker on CUDA at batch size 8 and 1: same text and routing?
  perf_7b         scripts/gpu_perf_awaker7b.py with the rest of the slot as its --budget-s: the per-sample loops,
                  choice mode, each optimisation off, components, host reads, fast mode against parity
  perf_tiny       ``awaker-eval perf``: the engine against the README-style loop on the tiny model
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]


class StageFailed(RuntimeError):
    """A stage's command exited non-zero or ran past its limit."""


@dataclass
class Context:
    """What the stages share: the slot's deadline, the log folder and a scratch folder."""

    deadline: float
    logs: Path
    work: Path

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def command(self, stage: str, argv: list[str], limit: float) -> None:
        """Run ``argv`` from the repository root, its output appended to the stage's log; raise on a failure."""
        with open(self.logs / f"{stage}.log", "a") as log:
            try:
                rc = subprocess.run(argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, timeout=limit).returncode
            except subprocess.TimeoutExpired:
                raise StageFailed(f"ran past its {limit:.0f} s limit") from None
        if rc:
            raise StageFailed(f"exit {rc}")


@dataclass
class Stage:
    """One optional stage: it runs only when ``estimate_s`` fits what is left of the slot."""

    name: str
    estimate_s: float  # what it needs at least (a stage given the rest of the slot sizes itself to it)
    run: Callable[[Context], dict]


def tiny_batch_sizes(ctx: Context) -> dict:
    """The whole app (Hydra config, data, engine, scoring) on CUDA at batch size 8 and 1; whether the generated
    text and the prefill routing agree between them (bf16 batching may legitimately move a low bit)."""
    rows = {}
    for bs in (8, 1):
        out = ctx.work / f"bs{bs}"
        ctx.command("awaker_tiny_bs", [sys.executable, "-m", "awaker_eval", "model=awaker_tiny", "model.device=cuda",
                                       f"runner.batch_size={bs}", "runner.progress=false", f"output_dir={out}",
                                       f"model.cache_dir={ctx.work / 'cache'}",
                                       f"benchmark.cache_dir={ctx.work / 'cache'}"], 60)
        rows[bs] = [json.loads(line) for line in next(out.rglob("predictions.jsonl")).read_text().splitlines()]
    pairs = list(zip(rows[1], rows[8]))
    return {"samples": len(pairs), "same_text": sum(a["raw_output"] == b["raw_output"] for a, b in pairs),
            "same_prefill_experts": sum(a["routing"]["prefill"]["expert"] == b["routing"]["prefill"]["expert"]
                                        for a, b in pairs)}


def perf_7b(ctx: Context) -> dict:
    """The earlier 7B benchmark, budgeted to the slot (its stages past the budget are recorded as skipped)."""
    out = ctx.logs / "gpu_perf.json"
    budget = ctx.left() - 45  # its own build and the last stage's overrun
    ctx.command("perf_7b", [sys.executable, "scripts/gpu_perf_awaker7b.py", "--out", str(out), "--cache-dir",
                            str(ctx.work / "cache"), "--budget-s", f"{budget:.0f}"], ctx.left() - 5)
    stages = json.loads(out.read_text()).get("stages", {})
    return {"report": out.name, "stages_run": [k for k, v in stages.items() if "skipped" not in v],
            "stages_skipped": [k for k, v in stages.items() if "skipped" in v]}


def perf_tiny(ctx: Context) -> dict:
    """The engine against the README-style per-sample loop on the tiny model (the README's performance row)."""
    ctx.command("perf_tiny", [sys.executable, "-m", "awaker_eval.cli", "perf", "--device", "cuda", "--workers", "8",
                              "--cache-dir", str(ctx.work / "cache")], min(ctx.left() - 5, 120))
    return {"log": "perf_tiny.log"}


STAGES = (Stage("awaker_tiny_bs", 90, tiny_batch_sizes), Stage("perf_7b", 180, perf_7b),
          Stage("perf_tiny", 90, perf_tiny))


def log_tail(path: Path, lines: int = 15) -> str:
    """The end of a stage's log, for its FAILED line (the whole log comes back in $OUT)."""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def run_stages(ctx: Context, report: dict, save: Callable[[], None], skip_all: str | None) -> str | None:
    """Each stage that fits, in order; the first failure stops them and is returned as its FAILED line."""
    optional = report.setdefault("optional", {})
    for stage in STAGES:
        if skip_all:
            optional[stage.name] = {"skipped": skip_all}
        elif ctx.left() < stage.estimate_s:
            optional[stage.name] = {"skipped": f"needs ~{stage.estimate_s:.0f} s, {max(ctx.left(), 0):.0f} s "
                                               "left of the slot"}
        else:
            start = time.monotonic()
            try:
                optional[stage.name] = stage.run(ctx)
            except (StageFailed, OSError, ValueError, KeyError, StopIteration) as exc:
                optional[stage.name] = {"error": f"{type(exc).__name__}: {exc}",
                                        "seconds": round(time.monotonic() - start, 1)}
                save()
                return f"FAILED: {stage.name}: {exc}\n{log_tail(ctx.logs / f'{stage.name}.log')}"
            optional[stage.name]["seconds"] = round(time.monotonic() - start, 1)
        print(f"time {stage.name:<14} {optional[stage.name].get('seconds', '-'):>7} s   "
              f"{describe(stage.name, optional[stage.name])}", flush=True)
        save()
    return None


def describe(name: str, rec: dict) -> str:
    """One short phrase for a step's or stage's record."""
    if name == "install":
        return "the bundle's wheels, offline (pip skips what the image has)"
    if "error" in rec or "skipped" in rec:
        return f"ERROR {rec['error'][:90]}" if "error" in rec else f"skipped: {rec['skipped']}"
    if "verdict" in rec:
        return f"{rec['verdict']} ({rec['checks']} checks, {rec['failed']} failed)"
    if "parameters" in rec:
        count = rec["parameters"]
        count = f"{count / 1e9:.2f} B" if count >= 1e8 else f"{count:,}"
        return f"{count} parameters, weights built in {rec['build_s']} s"
    if "policy" in rec and not rec["records"]:
        return f"no checks: {rec.get('note', '')}"
    if "policy" in rec:
        fell_back = [r["name"] for r in rec["records"] if r["fallback"]]
        return (f"{rec['checks']} checks {rec['verdicts']}" + (f"; fell back: {', '.join(fell_back)}"
                                                                if fell_back else ""))
    if "samples_per_s" in rec:
        text = f"{rec['samples_per_s']:.3f} samples/s ({rec['questions']} questions, {rec['batches']} batches)"
        projection = rec.get("projection")
        return text + (f"; full EN run {projection['full_en_run_h']} h" if projection else "")
    return ", ".join(f"{k} {v}" for k, v in rec.items() if k != "seconds")[:120]


def table(report: dict) -> str:
    """The closing table: every core step and optional stage, its seconds and its result; then the peaks."""
    rows = [(name, rec) for name, rec in report.get("steps", {}).items()]
    rows += [(name, rec) for name, rec in report.get("optional", {}).items()]
    lines = [f"{'step':<15}{'seconds':>8}  result", "-" * 90]
    lines += [f"{name:<15}{rec.get('seconds', '-')!s:>8}  {describe(name, rec)}" for name, rec in rows]
    rss = report.get("peak_rss_gib", {})
    lines.append(f"core {report.get('core_s', '-')} s of {report.get('budget_s', '-')} s "
                 f"({report.get('status', 'not run')}); peak GPU memory {report.get('peak_gpu_gib', '-')} GiB; "
                 f"peak host RSS {rss.get('self', '-')} GiB (DataLoader workers {rss.get('children', '-')} GiB); "
                 f"{report.get('device', '')}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--report", type=Path, required=True, help="the core's JSON report (created if absent)")
    ap.add_argument("--left-s", type=float, required=True, help="seconds left of the slot")
    ap.add_argument("--logs", type=Path, required=True)
    ap.add_argument("--work", type=Path, default=Path("/tmp/device_stages"))
    ap.add_argument("--skip-all", default=None, metavar="REASON", help="skip every stage (the CPU dry run, a "
                                                                       "core-only run); the table is still printed")
    args = ap.parse_args(argv)
    report = json.loads(args.report.read_text()) if args.report.exists() else {}
    args.work.mkdir(parents=True, exist_ok=True)
    ctx = Context(time.monotonic() + args.left_s, args.logs, args.work)

    def save():
        args.report.write_text(json.dumps(report, indent=2, default=str) + "\n")

    failed = run_stages(ctx, report, save, args.skip_all)
    print(table(report), flush=True)
    if failed:
        print(failed, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
