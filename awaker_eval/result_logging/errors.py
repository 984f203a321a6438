"""The one exception of results logging, in a module with no imports so that the app can catch it cheaply."""

from __future__ import annotations


class LoggerFailed(RuntimeError):
    """Sending a finished run's results failed while every result is on disk (``logger.required=true``): the run
    exits 1 after the outputs are written, so CI notices the missing upload without losing the numbers."""
