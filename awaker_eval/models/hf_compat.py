"""Names that differ between the supported transformers versions (pyproject: ``transformers>=5.17,<6``).

The KV cache is ``past_key_values`` in 5.17 and ``cache`` in 5.25 (which still takes ``past_key_values`` as a
deprecated keyword, with a warning, but has only ``cache`` on its outputs). Rather than comparing version numbers, each helper asks the object at
hand: which attribute an output carries, which keyword a ``forward`` declares, which key a call's kwargs hold.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

CACHE_NAMES = ("cache", "past_key_values")  # newest first


def output_cache(output: Any) -> Any:
    """The KV cache a model output carries, under whichever name this transformers gives it (None when the
    output holds no cache, e.g. ``use_cache=False``)."""
    for name in CACHE_NAMES:
        if hasattr(output, name):
            return getattr(output, name)
    raise AttributeError(f"{type(output).__name__} has no cache attribute (looked for {', '.join(CACHE_NAMES)})")


def kwargs_cache(kwargs: dict[str, Any]) -> Any:
    """The KV cache a forward call was given (forward pre-hooks see the caller's keyword), or None."""
    for name in CACHE_NAMES:
        if kwargs.get(name) is not None:
            return kwargs[name]
    return None


@functools.lru_cache(maxsize=None)
def _declared_cache_keyword(forward) -> str:
    params = inspect.signature(forward).parameters  # follows functools.wraps of HF's decorators
    for name in CACHE_NAMES:
        if name in params:
            return name
    raise TypeError(f"{getattr(forward, '__qualname__', forward)} declares none of {', '.join(CACHE_NAMES)}")


def cache_keyword(module: Any) -> str:
    """The keyword under which the forward of ``module`` (an instance or a class) takes the KV cache, as its
    signature declares it (looked up once per class)."""
    cls = module if isinstance(module, type) else type(module)
    return _declared_cache_keyword(cls.forward)
