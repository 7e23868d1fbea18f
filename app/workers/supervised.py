"""What the long-running bus workers share: retrying a call until it succeeds or a stop is asked
for, and turning SIGTERM/Ctrl-C into that stop.

Both the order consumer (``exec.orders`` into the database) and the venue worker (the venue's
updates onto ``exec.orders``) must never drop what they hold while the bus or the database is
down, and must still stop promptly when told to. :class:`UntilStopped` is that policy, once:
a call failing with :class:`~app.errors.RetryableError` or :class:`~app.errors.BusError` is
tried again after an exponential back-off with jitter (``initial_s`` doubling up to ``max_s``)
for as long as the worker is not stopping; once it is, the last failure ends the call as
:class:`StoppedWhileFailing`. Any other error is not retried. The sleep between attempts is the
worker's own (it wakes early when a stop is requested).
"""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any, TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception_type,
    wait_exponential_jitter,
)

from app.errors import BusError, RetryableError

__all__ = ["StoppedWhileFailing", "UntilStopped", "stop_on_signals"]

T = TypeVar("T")

RetryHook = Callable[[str, RetryCallState], None]
"""Called before each wait with what is being retried and tenacity's state (attempt, outcome)."""


class StoppedWhileFailing(RetryableError):
    """A stop was requested while a call was still failing; what it carried was not finished."""

    def __init__(self, what: str, last: BaseException | None) -> None:
        super().__init__(f"{what} was failing ({last})")
        self.what = what
        self.last = last


@dataclass(frozen=True, slots=True, kw_only=True)
class UntilStopped:
    """Retry a call until it succeeds or ``stopping()`` turns true (see the module docstring).

    ``on_retry`` runs before each wait (to count and log the retry).
    """

    initial_s: float
    max_s: float
    stopping: Callable[[], bool]
    on_retry: RetryHook | None = None

    def _policy(self, what: str) -> dict[str, Any]:
        hook = self.on_retry

        def before_sleep(state: RetryCallState) -> None:
            if hook is not None:
                hook(what, state)

        return {
            "retry": retry_if_exception_type((RetryableError, BusError)),
            "wait": wait_exponential_jitter(multiplier=self.initial_s, max=self.max_s, jitter=self.initial_s),
            "stop": lambda _state: self.stopping(),
            "before_sleep": before_sleep,
            "reraise": False,
        }

    def call(self, what: str, call: Callable[[], T], *, sleep: Callable[[float], None]) -> T:
        """``call()``, retried; ``sleep`` waits between attempts.

        Raises:
            StoppedWhileFailing: a stop was requested while ``call`` was failing.
        """
        try:
            return Retrying(sleep=sleep, **self._policy(what))(call)
        except RetryError as exc:
            raise StoppedWhileFailing(what, exc.last_attempt.exception()) from exc.last_attempt.exception()

    async def call_async(
        self, what: str, call: Callable[[], Awaitable[T]], *, sleep: Callable[[float], Awaitable[None]]
    ) -> T:
        """``await call()``, retried; ``await sleep(s)`` waits between attempts.

        Raises:
            StoppedWhileFailing: a stop was requested while ``call`` was failing.
        """

        async def attempt() -> T:  # a coroutine function, so tenacity awaits each attempt
            return await call()

        try:
            return await AsyncRetrying(sleep=sleep, **self._policy(what))(attempt)
        except RetryError as exc:
            raise StoppedWhileFailing(what, exc.last_attempt.exception()) from exc.last_attempt.exception()


@contextmanager
def stop_on_signals(stop: Callable[[str], None]) -> Iterator[None]:
    """Within the block SIGTERM and SIGINT call ``stop(signal name)`` instead of ending the
    process; the previous handlers are put back when it ends."""

    def handle(signum: int, _frame: FrameType | None) -> None:
        stop(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
