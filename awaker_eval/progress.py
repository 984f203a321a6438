"""``runner.progress=false`` means no progress bar at all for the run, the libraries' included.

Our own bars take ``disable=`` (engine/runner.py); transformers ("Loading weights", "Writing model shards" of the
tiny builders), the hub's downloads and ``datasets``' table builds draw theirs unless their global switches are off.
Those switches are process-wide, so they are turned off for the run only and put back as they were after it (a
caller's own setting, e.g. a notebook's, survives the run).
"""

from __future__ import annotations

import contextlib
from typing import Iterator

from datasets.utils import logging as datasets_logging
from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars
from transformers.utils import logging as transformers_logging


@contextlib.contextmanager
def library_progress_bars(enabled: bool) -> Iterator[None]:
    """While the run lasts, the progress bars of transformers, huggingface_hub and datasets are off unless
    ``enabled`` (``runner.progress``); each library's previous setting is restored afterwards."""
    if enabled:
        yield
        return
    was = (transformers_logging.is_progress_bar_enabled(), not are_progress_bars_disabled(),
           datasets_logging.is_progress_bar_enabled())
    transformers_logging.disable_progress_bar()  # the hub's bars too
    datasets_logging.disable_progress_bar()
    try:
        yield
    finally:
        _restore(*was)


def _restore(transformers_on: bool, hub_on: bool, datasets_on: bool) -> None:
    """Each switch back to what it was; the hub's last, as transformers' own switch flips the hub's with it."""
    if transformers_on:
        transformers_logging.enable_progress_bar()
    if hub_on:
        enable_progress_bars()
    else:
        disable_progress_bars()
    if datasets_on:
        datasets_logging.enable_progress_bar()
