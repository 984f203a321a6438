"""Command-line entry: ``awaker-eval <command> ...``; ``python -m awaker_eval [hydra overrides]`` runs.

Each subcommand lives in the module of its stage and exposes ``main(argv: list[str]) -> int``; this table
only dispatches (imports are lazy so ``--help`` is instant and nothing heavy loads at import) and reports user
errors in one line through ``user_errors.run_reported``.
"""

from __future__ import annotations

import importlib
import sys

from awaker_eval.user_errors import run_reported
from awaker_eval.cli_help import quiet_broken_pipe, run_help, version_line

COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("awaker_eval.app", "run benchmark inference + scoring (Hydra overrides follow)"),
    "score": ("awaker_eval.score_cli", "score a predictions file made here or elsewhere"),
    "export-submission": ("awaker_eval.export_submission", "write a run's test-server submission file (benchmarks that have one)"),
    "convert-checkpoint": ("awaker_eval.convert_cli", "convert the released Awaker .bin to safetensors"),
    "verify-golden": ("awaker_eval.golden_cli", "check the Awaker port against golden fixtures"),
    "table": ("awaker_eval.report.table_cli", "leaderboard table with our runs among the published rows"),
    "compare": ("awaker_eval.report.compare_cli",
                "paired comparison of two runs; the CI gate (exit 0 pass, 1 regression, 3 inconclusive)"),
    "explain": ("awaker_eval.explain_cli",
                "which protocol knobs moved the score between two runs, by how much (Shapley values)"),
    "curve": ("awaker_eval.curve_cli", "accuracy against visual tokens per image over a max_pixels sweep"),
    "plot": ("awaker_eval.report.plots_cli", "per-subtask / per-category bars and the expert heatmap"),
    "report": ("awaker_eval.report.html_cli", "static HTML report of one run directory"),
    "merge": ("awaker_eval.merge_cli", "merge and score the shards of a job-array run (runner.shard=I/N)"),
    "perf": ("awaker_eval.perf_cli", "throughput benchmark of the inference engine"),
    "prompts": ("awaker_eval.prompts_cli", "print every sample's chat messages as a run builds them (no model)"),
    "prepare": ("awaker_eval.prepare", "download and verify what a run needs, then run offline (overrides follow)"),
}


def usage() -> str:
    lines = ["usage: awaker-eval <command> [args]", "", "commands:"]
    lines += [f"  {name:<20} {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "python -m awaker_eval [hydra overrides]   is the same as   awaker-eval run [hydra overrides]"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _dispatch(argv)
    except BrokenPipeError:  # `awaker-eval score ... | head`: the reader left; end quietly
        quiet_broken_pipe()
        return 0


def _dispatch(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if argv and argv[0] in ("-V", "--version"):
        print(version_line())
        return 0
    if argv and argv[0] in COMMANDS:
        name, rest = argv[0], argv[1:]
    else:
        name, rest = "run", argv
    if name == "run" and any(arg in ("-h", "--help") for arg in rest):
        print(run_help())  # ours, not Hydra's generic text
        return 0
    module = importlib.import_module(COMMANDS[name][0])
    return run_reported(lambda: module.main(rest))  # user errors / Ctrl-C: one line, exit 2 / 130


if __name__ == "__main__":
    sys.exit(main())
