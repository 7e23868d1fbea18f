"""The workers' shared retry policy and signal handling (app/workers/supervised.py)."""

from __future__ import annotations

import asyncio
import signal

import pytest

from app.errors import BusError, InputError, RetryableError
from app.workers.supervised import StoppedWhileFailing, UntilStopped, stop_on_signals


class _Flaky:
    """Fails ``failures`` times with ``error``, then answers ``"done"``."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "done"


def test_a_failing_call_is_retried_with_bounded_back_off_until_it_succeeds() -> None:
    waits: list[float] = []
    retried: list[tuple[str, int]] = []
    policy = UntilStopped(
        initial_s=0.5,
        max_s=4.0,
        stopping=lambda: False,
        on_retry=lambda what, state: retried.append((what, state.attempt_number)),
    )
    flaky = _Flaky(6, BusError("bus down"))
    assert policy.call("poll", flaky, sleep=waits.append) == "done"
    assert flaky.calls == 7
    assert retried == [("poll", n) for n in range(1, 7)]
    assert len(waits) == 6 and all(0.5 <= w <= 4.0 for w in waits)
    assert waits[0] < 1.0 + 1e-9 and waits[-1] == 4.0  # starts near initial_s, capped at max_s


def test_a_stop_ends_the_retries_with_the_last_failure() -> None:
    stop = {"now": False}

    def sleep(_: float) -> None:
        stop["now"] = True  # the stop arrives during the first wait

    policy = UntilStopped(initial_s=0.01, max_s=0.1, stopping=lambda: stop["now"])
    flaky = _Flaky(100, RetryableError("database unavailable"))
    with pytest.raises(
        StoppedWhileFailing, match=r"database write was failing \(database unavailable\)"
    ) as info:
        policy.call("database write", flaky, sleep=sleep)
    assert flaky.calls == 2 and isinstance(info.value, RetryableError)
    assert isinstance(info.value.last, RetryableError)


def test_errors_that_retrying_cannot_fix_pass_through_at_once() -> None:
    policy = UntilStopped(initial_s=0.01, max_s=0.1, stopping=lambda: False)
    flaky = _Flaky(1, InputError("bad event"))
    with pytest.raises(InputError, match="bad event"):
        policy.call("write", flaky, sleep=lambda _: None)
    assert flaky.calls == 1


def test_the_async_form_awaits_each_attempt() -> None:
    waits: list[float] = []
    flaky = _Flaky(2, BusError("publish refused"))

    async def publish() -> str:
        return await asyncio.to_thread(flaky)

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    policy = UntilStopped(initial_s=0.01, max_s=0.05, stopping=lambda: False)
    assert asyncio.run(policy.call_async("publish", publish, sleep=sleep)) == "done"
    assert flaky.calls == 3 and len(waits) == 2

    flaky = _Flaky(100, BusError("publish refused"))
    stopped = UntilStopped(initial_s=0.01, max_s=0.05, stopping=lambda: True)
    with pytest.raises(StoppedWhileFailing, match="publish was failing"):
        asyncio.run(stopped.call_async("publish", publish, sleep=sleep))
    assert flaky.calls == 1  # stopping already: no second attempt


def test_signals_ask_for_a_stop_inside_the_block_only() -> None:
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    seen: list[str] = []
    with stop_on_signals(seen.append):
        signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGINT)
    assert seen == ["SIGTERM", "SIGINT"]
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
