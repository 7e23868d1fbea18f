"""Workers run in a background thread by a test, stopped and joined whatever the test does.

A worker that retries a failing database forever (the order consumer waiting out an
outage) must not outlive a failed test: the test's database is dropped at teardown, the
worker would retry against it until the process ends, and a non-daemon thread keeps
pytest from exiting at all. ``in_background`` runs the target in a daemon thread and, on
the way out (passed or failed), asks it to stop and joins it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

T = TypeVar("T")


class Background(Generic[T]):
    """One target running in a daemon thread; its return value or exception kept for the test."""

    def __init__(self, target: Callable[[], T], *, name: str, stop: Callable[[], None] | None) -> None:
        self.name = name
        self._target = target
        self._stop = stop
        self._result: list[T] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        try:
            self._result.append(self._target())
        except BaseException as exc:  # kept for join(): the test decides what it expects
            self.error = exc

    def is_alive(self) -> bool:
        return self.thread.is_alive()

    def join(self, timeout: float) -> T:
        """Wait for the target to return and give its result; raise what it raised.

        Raises:
            AssertionError: it was still running after ``timeout`` seconds (it is asked to
                stop first, so it does not outlive the test).
        """
        self.thread.join(timeout)
        if self.thread.is_alive():
            self.stop(5.0)
            raise AssertionError(f"{self.name} was still running after {timeout:g} s")
        if self.error is not None:
            raise self.error
        return self._result[0]

    def stop(self, timeout: float) -> None:
        """Ask the target to stop (if it can be asked) and wait up to ``timeout`` seconds."""
        if self._stop is not None and self.thread.is_alive():
            self._stop()
        self.thread.join(timeout)


@contextmanager
def in_background(
    target: Callable[[], T], *, name: str, stop: Callable[[], None] | None = None, stop_s: float = 15.0
) -> Iterator[Background[T]]:
    """Run ``target`` in a daemon thread for the block; on leaving it, stop and join the thread."""
    background = Background(target, name=name, stop=stop)
    background.thread.start()
    try:
        yield background
    finally:
        background.stop(stop_s)
