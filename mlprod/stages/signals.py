"""Holding Ctrl-C and SIGTERM back while a run saves or cleans up, so neither is left half-done.

While a :class:`DeferredSignals` block is active, SIGINT and SIGTERM are recorded instead of acting.
The runner uses it from just before its commit point (the rename that publishes the results) to the end
of the run: a signal that arrived before the rename is acted on (:meth:`DeferredSignals.deliver`, the run
is stopped), one that arrives after it is only reported (the run has succeeded). It also keeps the
clean-up of a failed or stopped run from being cut short by a second Ctrl-C.

Only signals whose handler is a Python function (Python's own Ctrl-C handler, the CLI's SIGTERM
handler) are held back; a signal left to the operating system (``SIG_DFL``, ``SIG_IGN``) keeps its
behaviour. Handlers can only be set in the main thread; elsewhere the block does nothing.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any, Callable

HELD = (signal.SIGINT, signal.SIGTERM)


class DeferredSignals:
    """Context manager: SIGINT/SIGTERM are recorded while held (``received``, in order) and act again after.

    ``DeferredSignals()`` holds them from the start of the block; ``DeferredSignals(hold=False)`` only from
    :meth:`hold` on, to the end of the block.
    """

    def __init__(self, hold: bool = True) -> None:
        self.received: list[int] = []
        self._hold_at_enter = hold
        self._previous: dict[int, Callable[[int, FrameType | None], Any]] = {}

    def __enter__(self) -> "DeferredSignals":
        if self._hold_at_enter:
            self.hold()
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def hold(self) -> None:
        """Start recording SIGINT and SIGTERM instead of acting on them (idempotent)."""
        if self._previous or threading.current_thread() is not threading.main_thread():
            return
        for signum in HELD:
            previous = signal.getsignal(signum)
            if callable(previous):
                self._previous[signum] = previous
                signal.signal(signum, self._record)

    def _record(self, signum: int, frame: FrameType | None) -> None:  # noqa: ARG002
        self.received.append(signum)

    def deliver(self) -> None:
        """Act on the first signal received so far as its own handler would (raises KeyboardInterrupt or
        the CLI's StopRequested); nothing when none arrived."""
        if self.received:
            signum = self.received[0]
            self.received.clear()
            self._previous[signum](signum, None)


def signal_name(signum: int) -> str:
    """``Ctrl-C (SIGINT)`` or the signal's name."""
    name = signal.Signals(signum).name
    return "Ctrl-C (SIGINT)" if signum == signal.SIGINT else name
