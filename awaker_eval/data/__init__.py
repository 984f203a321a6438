"""Benchmark data: every supported layout normalised to ``awaker_eval.types.Sample``.

Entry point: ``awaker_eval.data.registry.load_benchmark(bench, cfg)`` (samples + data warnings), given the
``Benchmark`` object the caller resolved (``awaker_eval.resolve`` does it from a config). Importing this package
loads nothing: the light modules (``taxonomy``, ``options``) never pull in ``datasets`` / ``pyarrow``.
"""
