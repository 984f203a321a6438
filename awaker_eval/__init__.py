"""awaker_eval: exact, fast, reproducible evaluation of Awaker2.5-VL and Qwen2-VL models.

Stages (one direction of flow): data -> prompt -> model -> store -> score -> report.
"""

__version__ = "0.1.0"
