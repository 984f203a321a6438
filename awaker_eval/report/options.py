"""Checks of the statistical options shared by ``compare``, ``report``, ``plot`` and ``table``.

Each of these values once let the CI gate pass a real 80-point drop with exit 0: ``--n-boot 0`` gives every
interval as [nan, nan] (and ``nan < 0`` is false, so nothing is significant), ``--alpha 0`` makes no p-value
small enough, ``--max-drop nan`` makes no drop larger; ``--alpha 2`` inverts the intervals. They are refused
before anything is read or written.
"""

from __future__ import annotations

import math

MIN_N_BOOT = 100  # fewer resamples give percentile intervals too coarse to gate on


def check_options(n_boot: int | None = None, alpha: float | None = None, max_drop: float | None = None) -> None:
    """Raise ``ValueError`` (one line, for ``error: ...``) for the first unusable value; None: not an option."""
    if n_boot is not None and n_boot < MIN_N_BOOT:
        raise ValueError(f"--n-boot must be at least {MIN_N_BOOT} (got {n_boot}): fewer bootstrap resamples "
                         "give no usable interval")
    if alpha is not None and not 0 < alpha < 1:  # also refuses nan
        raise ValueError(f"--alpha must be strictly between 0 and 1 (got {alpha}): it is the significance "
                         "level, e.g. 0.05 for 95% intervals")
    if max_drop is not None and not (math.isfinite(max_drop) and max_drop >= 0):
        raise ValueError(f"--max-drop must be a finite number of points >= 0 (got {max_drop})")
