"""awaker_eval: exact, fast, reproducible evaluation of Awaker2.5-VL and Qwen2-VL models.

Stages (one direction of flow): data -> prompt -> model -> store -> score -> report.

Python API (``awaker_eval/api.py``): ``awaker_eval.evaluate(overrides=[...])`` runs one benchmark and returns its
run directory and scores; ``awaker_eval.compare(base, new, max_drop=...)`` returns the paired comparison;
``awaker_eval.explain(run_a, run_b)`` attributes their score difference to the protocol knobs. They are
loaded on first access (module ``__getattr__``), so ``import awaker_eval`` stays light (no torch) for the
command line's ``--help`` and for tools that only read run directories.
"""

import importlib

__version__ = "0.1.0"

API = ("evaluate", "compare", "explain", "Evaluation", "Comparison")
__all__ = ["__version__", *API]


def __getattr__(name: str):
    """``awaker_eval.evaluate`` and the rest of ``API``, imported from ``awaker_eval.api`` when first used."""
    if name in API:
        return getattr(importlib.import_module("awaker_eval.api"), name)
    raise AttributeError(f"module 'awaker_eval' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The lazy API names too, so completion and ``dir(awaker_eval)`` show them before first use."""
    return sorted({*globals(), *API})
