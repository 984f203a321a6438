"""The issue-12 optimisations switched off (or an opt-in path switched on) one at a time, for the GPU benchmark.

Each switch is a context manager over the benchmark's model: inside it the engine runs the old (or opt-in) path,
and leaving it restores the setting. A row of ``OPTIMISATIONS_OFF`` / ``OPT_IN`` is ``(stage, engine mode, new
tokens, reference stage, switch, engine kwargs)``; the engine path with everything on is the reference's stage.
"""

from __future__ import annotations

import contextlib
from typing import Any


@contextlib.contextmanager
def setting(obj: Any, name: str, value: Any):
    """``obj.name = value`` inside the block, the earlier value restored after it."""
    saved = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, saved)


def unchanged(bench):
    return contextlib.nullcontext()


def unfused_epilogue(bench):
    """The unfused (spec-literal) adapter epilogue in every adapted Linear."""
    from awaker_eval.models.awaker import adapters
    from awaker_eval.models.awaker.epilogue import reference_epilogue

    stack = contextlib.ExitStack()
    stack.enter_context(setting(adapters, "fused_epilogue", reference_epilogue))
    stack.enter_context(setting(adapters.MoeLoraLinear, "forward", adapters.MoeLoraLinear.unfused))
    return stack


def routing_per_step(bench):
    """The old routing: each router decided lazily at each step, one host sync per router."""
    return setting(bench.model.routing, "owners", {})


def left_padding(bench):
    """Choice mode's earlier prefill: left padding and a materialised 4D mask."""
    return setting(bench.model.cfg, "choice_padding", "left")


def stock_vision_attention(bench):
    """Transformers' vision attention: split per segment, a host sync in every block."""
    return setting(bench.model.vision_attention, "enabled", False)


def right_generate(bench):
    """``model.generate_padding=right``: our greedy loop after a right-padded prefill, no 4D mask."""
    return setting(bench.model.cfg, "generate_padding", "right")


OPTIMISATIONS_OFF = [
    ("choice_no_reuse", "choice", 2, "choice", unchanged, {"reuse": False}),
    ("choice_unfused_epilogue", "choice", 2, "choice", unfused_epilogue, {}),
    ("gen16_routing_per_step", "generate", 16, "gen16", routing_per_step, {}),
    ("choice_left_padding", "choice", 2, "choice", left_padding, {}),
    ("choice_stock_vision_attention", "choice", 2, "choice", stock_vision_attention, {}),
]
# Opt-in paths, measured the same way against the same references (not the default, so not "off" rows).
OPT_IN = [
    ("gen2_right_padding", "generate", 2, "generate", right_generate, {}),
    ("gen16_right_padding", "generate", 16, "gen16", right_generate, {}),
]
