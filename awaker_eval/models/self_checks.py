"""Self-checks at run start: every enabled fast path proves itself against its reference computation on the run's
own device, dtype and loaded weights, at the model's real shapes, before the first batch.

Why: the fast paths (fused adapter epilogue, batched vision attention, vision reuse, routing once per call, right
padding, ``adapter_dtype_mode=fast``) were checked on CPU in the tests; a GPU run uses other kernels (Triton, SDPA's
flash / cuDNN) and other library versions. A path that fails here, numerically or by raising (a JIT compile error
counts), is switched off for the run under ``runner.self_check=fallback`` (the default), stops the run with exit 2
under ``strict`` before any prediction is made, and is not checked under ``off`` (recorded as ``off``).

A model lists its checks (``VisionLanguageModel.self_checks``) as ``SelfCheck`` values: a probe that measures the
path against the reference, and a switch that turns the path off. ``run_self_checks`` runs them and returns one
``SelfCheckRecord`` per check, which ``run.json`` keeps as ``engine.self_checks``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import torch

from awaker_eval.config.schema import SELF_CHECK_POLICIES

log = logging.getLogger(__name__)



class SelfCheckFailed(RuntimeError):
    """A fast path failed its self-check under ``runner.self_check=strict`` (exit 2, nothing predicted)."""


@dataclass
class Probe:
    """What one probe measured: the largest difference from the reference and the tolerance it must meet."""

    max_abs_diff: float
    tolerance: float
    shapes: Any = None  # the shapes probed, JSON-ready
    exact: list[str] = field(default_factory=list)  # quantities that must agree exactly and did not (names)
    detail: str | None = None

    @property
    def passed(self) -> bool:
        return not self.exact and not math.isnan(self.max_abs_diff) and self.max_abs_diff <= self.tolerance


@dataclass
class SelfCheck:
    """One fast path of a loaded model: ``probe`` compares it with its reference, ``fall_back`` switches it off
    for the rest of the run and returns what runs instead (a short phrase)."""

    name: str
    device: str
    dtype: str
    probe: Callable[[], Probe]
    fall_back: Callable[[], str]
    adopt: Callable[[], None] | None = None  # switches the path on, for a path that is off until proven
    tolerance_doc: str = ""  # why this tolerance (bit-equality where the path claims it)


@dataclass
class SelfCheckRecord:
    """One check's outcome, as ``run.json`` → ``engine.self_checks`` records it."""

    name: str
    device: str
    dtype: str
    shapes: Any
    max_abs_diff: float | None
    tolerance: float | None
    verdict: str  # pass | fail | error | off
    fallback: str | None  # what runs instead (None: the fast path runs)
    seconds: float
    detail: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:300]


def _run_one(check: SelfCheck) -> tuple[SelfCheckRecord, bool]:
    """The record of one probe (a raised exception is the verdict ``error``) and whether it passed."""
    t0 = time.perf_counter()
    try:
        with torch.inference_mode():
            probe = check.probe()
    except Exception as exc:  # a compile / launch / shape error is a failure of the fast path
        record = SelfCheckRecord(check.name, check.device, check.dtype, None, None, None, "error", None,
                                 time.perf_counter() - t0, _describe(exc))
        return record, False
    verdict = "pass" if probe.passed else "fail"
    detail = probe.detail
    if probe.exact:
        detail = "; ".join(filter(None, [f"not exact: {', '.join(probe.exact)}", detail]))
    record = SelfCheckRecord(check.name, check.device, check.dtype, probe.shapes, probe.max_abs_diff,
                             probe.tolerance, verdict, None, time.perf_counter() - t0, detail)
    return record, probe.passed


def failure_line(record: SelfCheckRecord) -> str:
    """One line naming the path, what it measured and what runs instead."""
    if record.verdict == "error":
        what = f"raised {record.detail}"
    else:
        what = f"max |diff| {record.max_abs_diff:.3g} > tolerance {record.tolerance:.3g}"
        if record.detail:
            what += f" ({record.detail})"
    tail = f"; switched off for this run: {record.fallback}" if record.fallback else ""
    return f"self-check {record.name} failed on {record.device} {record.dtype}: {what}{tail}"


def run_self_checks(checks: Iterable[SelfCheck], policy: str) -> list[SelfCheckRecord]:
    """Run every check under ``policy`` (``SELF_CHECK_POLICIES``). ``fallback``: a failing path is switched off
    (one warning line each); ``strict``: the first failure raises ``SelfCheckFailed``; ``off``: no probe runs, every
    path is taken as configured and recorded ``off``. ``checks`` may be a generator: each check is settled before
    the next is asked for, so a model can list a path only when an earlier outcome leaves it in use."""
    if policy not in SELF_CHECK_POLICIES:
        raise ValueError(f"runner.self_check={policy!r}: expected one of {', '.join(SELF_CHECK_POLICIES)}")
    records = []
    for check in checks:
        if policy == "off":
            record, passed = SelfCheckRecord(check.name, check.device, check.dtype, None, None, None, "off", None,
                                             0.0), True
        else:
            record, passed = _run_one(check)
        if passed:
            if check.adopt is not None:
                check.adopt()
        elif policy == "strict":
            raise SelfCheckFailed(failure_line(record) + " (runner.self_check=strict)")
        else:
            record.fallback = check.fall_back()
            log.warning("%s", failure_line(record))
        records.append(record)
    return records


def fallbacks(records: list[SelfCheckRecord]) -> list[str]:
    """The failure lines of the checks that fell back (what the report and the run's tail print)."""
    return [failure_line(r) for r in records if r.fallback]
