"""The one exception type for malformed benchmark input (the message names the file and row)."""

from __future__ import annotations


class DataError(ValueError):
    """A benchmark file or row that cannot be turned into a valid ``Sample``."""


def row_error(source: str, row: object, problem: str) -> DataError:
    """``DataError`` whose message names the file (or hub id) and the row."""
    return DataError(f"{source}, row {row}: {problem}")
