"""One look at whether the Hugging Face hub can be reached, so an offline machine fails in seconds, not after
half a minute of retries with every warning printed twice.

Before the first hub call the endpoint's host is probed once (DNS + TCP connect, a few seconds at most); when it
cannot be reached, ``huggingface_hub`` is put in offline mode for the rest of the process, so every later call
answers from the local cache at once (or raises the "not in the local cache" error that names the fix).
"""

from __future__ import annotations

import socket
from functools import lru_cache
from urllib.parse import urlparse

PROBE_TIMEOUT_S = 3.0


@lru_cache(maxsize=None)
def hub_reachable(endpoint: str, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """Whether a TCP connection to ``endpoint``'s host opens within ``timeout_s`` (probed once per process)."""
    url = urlparse(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=timeout_s):
            return True
    except OSError:  # no DNS, refused, unreachable, timed out
        return False


def offline_unless_reachable() -> bool:
    """Switch ``huggingface_hub`` to offline mode when its endpoint cannot be reached; returns offline-ness."""
    from huggingface_hub import constants

    if not constants.HF_HUB_OFFLINE and not hub_reachable(constants.ENDPOINT):
        constants.HF_HUB_OFFLINE = True
    return bool(constants.HF_HUB_OFFLINE)
