"""Benchmark data: every supported layout normalised to ``awaker_eval.types.Sample``.

Entry points: ``load_benchmark(cfg)`` (samples + data warnings) and ``load_samples(cfg)``
(``awaker_eval.data.registry``), exposed here lazily so that importing
the light modules (``taxonomy``, ``options``) does not pull in ``datasets`` / ``pyarrow``.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name in ("load_samples", "load_benchmark"):
        from awaker_eval.data import registry

        return getattr(registry, name)
    raise AttributeError(f"module 'awaker_eval.data' has no attribute {name!r}")
