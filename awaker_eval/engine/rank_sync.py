"""Waits between ranks that cannot hang: barriers and small exchanges over the rendezvous store, with failure flags
and heartbeats checked between polls (see ``distributed`` for the protocol).

Keys (under the ``awaker_eval/`` prefix of the store): ``failed/<rank>`` (the failing rank's message) and
``failed_count``; ``beat/<rank>`` (heartbeat counter); ``acks`` (ranks that have seen a failure and are leaving);
``sync/<n>/...`` (the n-th barrier or exchange, numbered identically on every rank: ``arrived`` and ``left``
counters, values).
"""

from __future__ import annotations

import atexit
import json
import logging
import signal
import threading
import time
from typing import Any

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 4000  # a failing rank's message as stored (tracebacks stay in that rank's own log)


class PeerFailure(RuntimeError):
    """Another rank failed, died or lost contact: this rank stops too (its own work is stored and resumable)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM reached a rank (``scancel``, a node's torchrun agent stopping its workers, a preemption): raised like
    Ctrl-C, so the rank tells its peers why before it exits instead of vanishing until their liveness check."""


def raise_terminated(signum: int, _frame: Any) -> None:
    """The SIGTERM handler of a rank: once (a second SIGTERM ends the process at once, as it would have)."""
    signal.signal(signum, signal.SIG_DFL)
    raise Terminated(f"stopped by {signal.Signals(signum).name} (scancel, a preemption, or torchrun stopping the "
                     f"workers of a node)")


def failure_message(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 3] + "..."


class RankSync:
    """One rank's view of the group: heartbeat thread, failure flags, store-polled barriers and exchanges."""

    def __init__(self, store: Any, rank: int, world_size: int, liveness_s: float = 40.0, heartbeat_s: float = 2.0,
                 poll_s: float = 0.5):
        import torch.distributed as dist

        if not 0 < heartbeat_s < liveness_s:
            raise ValueError(f"heartbeat_s ({heartbeat_s}) must be positive and below liveness_s ({liveness_s})")
        self.store = dist.PrefixStore("awaker_eval", store)
        self.rank, self.world_size = rank, world_size
        self.liveness_s, self.heartbeat_s, self.poll_s = liveness_s, heartbeat_s, poll_s
        self.peers = [r for r in range(world_size) if r != rank]
        self._lock = threading.Lock()
        self._seq = 0
        now = time.monotonic()
        self._last_beat: dict[int, tuple[int, float]] = {r: (-1, now) for r in self.peers}
        self.failed = False  # this rank has reported or seen a failure (it reports at most once)
        self._acked = False
        self._lingered = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat_loop, name=f"awaker-heartbeat-{rank}", daemon=True)
        self._thread.start()
        # Stopped and joined before Python finalises: a daemon thread that returns from a store call into a
        # finalising interpreter aborts the process ("terminate called without an active exception", exit -6),
        # which turned a finished run into a failed rank now and then.
        atexit.register(self.close)

    # -- store access -------------------------------------------------------------------------------------
    def _op(self, name: str, *args: Any) -> Any:
        """One store call; a lost store (its host died) becomes a PeerFailure that says so."""
        try:
            with self._lock:
                return getattr(self.store, name)(*args)
        except RuntimeError as exc:  # torch.distributed.DistError and its network / store subclasses
            self.failed = True
            raise PeerFailure(
                f"rank {self.rank}: lost contact with the rendezvous store ({type(exc).__name__}: {exc}); the rank "
                f"or torchrun agent hosting it (rank 0's node) has probably died"
            ) from exc

    def _beat_loop(self) -> None:
        while True:
            try:
                with self._lock:
                    self.store.add(f"beat/{self.rank}", 1)
            except RuntimeError:
                return  # the main thread sees the lost store on its next call
            if self._stop.wait(self.heartbeat_s):
                return

    # -- failures -----------------------------------------------------------------------------------------
    def _ack(self) -> None:
        if not self._acked:
            self._acked = True
            self.failed = True
            try:
                self._op("add", "acks", 1)
            except PeerFailure:
                pass

    def report(self, exc: BaseException) -> None:
        """Tell the others this rank is failing with ``exc`` (once)."""
        if self.failed:
            return
        message = failure_message(exc)
        try:
            self._op("set", f"failed/{self.rank}", message)
            self._op("add", "failed_count", 1)
        except PeerFailure:
            log.error("rank %d could not report its failure to the other ranks (store lost)", self.rank)
        self._ack()

    def _dead_peers(self) -> list[tuple[int, float]]:
        """Peers whose heartbeat has not moved for ``liveness_s`` (measured on this rank's clock)."""
        now, dead = time.monotonic(), []
        for r in self.peers:
            beat = int(self._op("add", f"beat/{r}", 0))
            last, since = self._last_beat[r]
            if beat != last:
                self._last_beat[r] = (beat, now)
            elif now - since > self.liveness_s:
                dead.append((r, now - since))
        return dead

    def check(self) -> None:
        """Raise PeerFailure when a peer has reported a failure or stopped beating; cheap (a few store calls)."""
        if int(self._op("add", "failed_count", 0)):
            for r in self.peers:
                if self._op("check", [f"failed/{r}"]):
                    message = self._op("get", f"failed/{r}").decode("utf-8", "replace")
                    self._ack()
                    raise PeerFailure(f"rank {r} failed: {message}")
        dead = self._dead_peers()
        if dead:
            r, silent = dead[0]
            self._ack()
            raise PeerFailure(
                f"rank {r} stopped responding: no heartbeat for {silent:.0f} s (killed, out of host memory or hung); "
                f"its finished samples are stored, rerun to resume"
            )

    def linger(self) -> None:
        """Before a failing rank exits: wait (bounded) until every live peer has seen the failure, so that a rank
        hosting the store does not take the failure message down with it."""
        if self._lingered:
            return
        self._lingered = True
        self._ack()
        deadline = time.monotonic() + self.liveness_s + 2 * self.heartbeat_s
        try:
            while time.monotonic() < deadline:
                acks = int(self._op("add", "acks", 0))
                if acks >= self.world_size - len(self._dead_peers()):
                    return
                time.sleep(min(self.poll_s, 0.2))
        except PeerFailure:
            return  # the store is gone: nobody is left to tell

    # -- waits --------------------------------------------------------------------------------------------
    def _wait(self, done) -> None:
        pause = 0.01
        while not done():
            self.check()
            time.sleep(pause)
            pause = min(pause * 2, self.poll_s)

    def _next(self) -> str:
        self._seq += 1
        return f"sync/{self._seq}"

    def _depart(self, prefix: str) -> None:
        """Leave a wait: rank 0 (which may host the store) returns only after every rank has left it, so a rank
        still polling never loses the store to rank 0's exit."""
        self._op("add", f"{prefix}/left", 1)
        if self.rank == 0:
            self._wait(lambda: int(self._op("add", f"{prefix}/left", 0)) >= self.world_size)

    def barrier(self) -> None:
        prefix = self._next()
        self._op("add", f"{prefix}/arrived", 1)
        self._wait(lambda: int(self._op("add", f"{prefix}/arrived", 0)) >= self.world_size)
        self._depart(prefix)

    def gather(self, value: Any) -> list[Any]:
        """Every rank's JSON-able ``value``, in rank order, on every rank."""
        prefix = self._next()
        self._op("set", f"{prefix}/{self.rank}", json.dumps(value))
        self._op("add", f"{prefix}/arrived", 1)
        self._wait(lambda: int(self._op("add", f"{prefix}/arrived", 0)) >= self.world_size)
        values = [json.loads(self._op("get", f"{prefix}/{r}")) for r in range(self.world_size)]
        self._depart(prefix)
        return values

    def broadcast(self, value: Any) -> Any:
        """Rank 0's JSON-able ``value`` on every rank."""
        prefix = self._next()
        if self.rank == 0:
            self._op("set", f"{prefix}/value", json.dumps(value))
        self._wait(lambda: bool(self._op("check", [f"{prefix}/value"])))
        value = json.loads(self._op("get", f"{prefix}/value"))
        self._depart(prefix)
        return value

    def close(self) -> None:
        """Stop the heartbeat (every wait already ended with all ranks out of it: nothing else to hand over)."""
        self._stop.set()
        self._thread.join(timeout=5)
