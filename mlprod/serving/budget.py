"""A model call under a time budget: a bounded thread pool plus a circuit breaker, per model tier.

A Python thread running ``predict`` cannot be killed. So each model tier owns one
:class:`concurrent.futures.ThreadPoolExecutor` of ``max_workers`` threads and a count of calls in flight:

- a call is handed to a worker only when fewer than ``max_workers`` calls are in flight; otherwise it fails at
  once with ``timeout`` (no queueing behind hung calls, no new thread);
- the caller waits at most the time budget; a call still running then is abandoned (``timeout``): its worker
  stays busy until ``predict`` returns, and its result is thrown away;
- ``failures`` consecutive failed calls (an exception, a timeout, a full pool, a result of the wrong shape) open
  the breaker: calls fail at once with ``circuit_open`` for ``reset_seconds``, then one trial call goes through
  (half-open); its success closes the breaker, its failure opens it again.

So a hung model costs at most ``max_workers`` threads per tier, whatever the traffic, and each request at most
one budget per model tier.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Callable

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
TIMEOUT, CIRCUIT_OPEN = "timeout", "circuit_open"


class Breaker:
    """Consecutive-failure circuit breaker; thread-safe. ``clock`` is for tests (default: time.monotonic)."""

    def __init__(self, failures: int = 5, reset_seconds: float = 30.0, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.failures = failures
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CLOSED
        self._count = 0  # consecutive failures
        self._opened_at = 0.0
        self._trial = False  # a half-open trial call is in flight

    @property
    def state(self) -> str:
        with self._lock:
            if self._state == OPEN and self._clock() - self._opened_at >= self.reset_seconds:
                return HALF_OPEN
            return self._state

    def allow(self) -> bool:
        """Whether a call may go through now (in half-open: only the one trial call)."""
        with self._lock:
            if self._state == CLOSED:
                return True
            if self._state == OPEN and self._clock() - self._opened_at >= self.reset_seconds:
                self._state = HALF_OPEN
                self._trial = False
            if self._state == HALF_OPEN and not self._trial:
                self._trial = True
                return True
            return False

    def success(self) -> None:
        with self._lock:
            self._state, self._count, self._trial = CLOSED, 0, False

    def failure(self) -> None:
        with self._lock:
            self._count += 1
            if self._state == HALF_OPEN or self._count >= self.failures:
                self._state, self._opened_at, self._trial = OPEN, self._clock(), False


class BoundedCaller:
    """Runs ``fn(arg)`` on a bounded pool within ``budget_seconds``, behind a :class:`Breaker`."""

    def __init__(self, *, max_workers: int, budget_seconds: float, breaker: Breaker, name: str = "model") -> None:
        self.max_workers = max_workers
        self.budget_seconds = budget_seconds
        self.breaker = breaker
        self._slots = threading.BoundedSemaphore(max_workers)
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=f"mlprod-{name}")

    def call(self, fn: Callable[[Any], Any], arg: Any,
             check: Callable[[Any], str | None] | None = None) -> tuple[Any, str | None]:
        """``(result, None)`` or ``(None, reason)``: ``circuit_open``, ``timeout`` or ``error:<ExceptionType>``,
        or what ``check(result)`` returns (a failure of the call as a whole, such as ``bad_shape``)."""
        future, refused = self._submit(fn, arg)
        if future is None:
            return None, refused
        try:
            result = future.result(timeout=self.budget_seconds)
        except FutureTimeout:
            return self._failed(TIMEOUT)
        except Exception as exc:  # the model raised: its rows go down a tier
            return self._failed(f"error:{type(exc).__name__}")
        return self._checked(result, check)

    async def acall(self, fn: Callable[[Any], Any], arg: Any,
                    check: Callable[[Any], str | None] | None = None) -> tuple[Any, str | None]:
        """:meth:`call` for a caller on an event loop: the loop waits for the pool thread without blocking, so a
        request costs one thread hand-off instead of two (a worker thread that would itself wait)."""
        future, refused = self._submit(fn, arg)
        if future is None:
            return None, refused
        try:
            # wait_for cancels the wrapper on timeout; a call already running is not stopped by that (it cannot be)
            result = await asyncio.wait_for(asyncio.wrap_future(future), self.budget_seconds)
        except (asyncio.TimeoutError, asyncio.CancelledError) as exc:
            if isinstance(exc, asyncio.CancelledError) and not future.done():
                raise  # the request itself was cancelled (shutdown): not the model's failure
            return self._failed(TIMEOUT)
        except Exception as exc:  # the model raised: its rows go down a tier
            return self._failed(f"error:{type(exc).__name__}")
        return self._checked(result, check)

    def _submit(self, fn: Callable[[Any], Any], arg: Any) -> tuple[Future | None, str | None]:
        """The running call, or None and why it was refused (breaker open, every worker busy, pool closed)."""
        if not self.breaker.allow():
            return None, CIRCUIT_OPEN
        if not self._slots.acquire(blocking=False):  # every worker is busy (hung): fail fast, no new thread
            self.breaker.failure()
            return None, TIMEOUT
        try:
            future = self._executor.submit(fn, arg)
        except RuntimeError:  # the pool was shut down
            self._slots.release()
            return None, CIRCUIT_OPEN
        future.add_done_callback(self._release)
        return future, None

    def _failed(self, reason: str) -> tuple[None, str]:
        self.breaker.failure()
        return None, reason

    def _checked(self, result: Any, check: Callable[[Any], str | None] | None) -> tuple[Any, str | None]:
        reason = check(result) if check is not None else None
        if reason is None:
            self.breaker.success()
            return result, None
        return self._failed(reason)

    def busy(self) -> int:
        """Calls in flight (hung ones included)."""
        return self.max_workers - self._slots._value  # noqa: SLF001 - a read-only look for metrics and tests

    def close(self) -> None:
        """Stop accepting calls; running ones are not waited for (they cannot be stopped)."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _release(self, _future: Any) -> None:
        self._slots.release()
