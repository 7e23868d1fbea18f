"""The composition root builds each client once per process and closes every one it built."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.bootstrap import Container
from app.bootstrap.container import component
from app.config import Settings
from app.errors import BusError, ConfigError


def test_each_client_is_built_once_even_when_threads_race(make_settings: Callable[..., Settings]) -> None:
    container = Container(make_settings())
    start = threading.Barrier(8)

    def grab(_: int) -> tuple[int, int, int, int]:
        start.wait()
        return (id(container.db), id(container.bus), id(container.market_data), id(container.router))

    with ThreadPoolExecutor(max_workers=8) as pool:
        seen = set(pool.map(grab, range(8)))
    try:
        assert len(seen) == 1  # every thread got the same four objects
        built = container.built()
        assert len(built) == len(set(built))  # nothing was built twice
        assert {"db", "bus", "blob", "market_data", "router", "guard"} <= set(built)
        assert "broker" not in built  # opened by the first run that executes, not before
    finally:
        container.close()


def test_the_router_shares_the_containers_clients(make_settings: Callable[..., Settings]) -> None:
    with Container(make_settings()) as container:
        context = container.router.context
        assert context.market_data is container.market_data
        assert context.guard is container.guard
        assert context.risk is container.router_risk
        assert context.bus() is container.bus
        assert context.broker() is container.broker
        assert container.router is container.router


def test_close_releases_everything_built_newest_first(make_settings: Callable[..., Settings]) -> None:
    container = Container(make_settings())
    container.db.ping()
    assert container.db.engine.pool.checkedin() == 1  # one pooled connection is open
    bus = container.bus
    bus.ping()
    market = container.market_data
    market.vendor("synthetic")
    broker = container.broker
    database = container.db
    container.close()
    assert database.engine.pool.checkedin() == 0  # the pool was disposed
    with pytest.raises(BusError):
        bus.ping()  # the local log's connection is closed
    assert market._vendors == {}  # vendor HTTP clients closed
    assert broker is not None
    assert container.built() == ()
    container.close()  # a second close is harmless
    assert container.db is not database  # asked for again: a fresh client, closed by the next close
    container.close()


def test_a_failing_close_does_not_keep_the_others_open(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    closed: list[str] = []

    class Handle:
        def __init__(self, name: str, fail: bool = False) -> None:
            self.name, self.fail = name, fail

        def close(self) -> None:
            closed.append(self.name)
            if self.fail:
                raise OSError(f"{self.name} would not close")

    class Probe(Container):
        @component(closer="close")
        def first(self) -> Handle:
            return Handle("first")

        @component(closer="close")
        def second(self) -> Handle:
            return Handle("second", fail=True)

        @component(closer="close")
        def third(self) -> Handle:
            return Handle("third")

    probe = Probe(make_settings())
    _ = (probe.first, probe.second, probe.third)
    probe.close()
    assert closed == ["third", "second", "first"]
    assert "closing second failed" in caplog.text


def test_a_broker_that_cannot_be_built_is_not_cached(make_settings: Callable[..., Settings]) -> None:
    with Container(make_settings(BROKER="alpaca")) as container:
        for _ in range(2):  # each run that needs the broker gets the same clear error
            with pytest.raises(ConfigError, match="ALPACA_API_KEY"):
                _ = container.broker
        assert "broker" not in container.built()


def test_backtest_deps_record_through_the_process_database(make_settings: Callable[..., Settings]) -> None:
    with Container(make_settings()) as saving:
        assert saving.backtest_deps.database is saving.db
        assert saving.backtest_deps.market_data is saving.market_data
    with Container(make_settings(BACKTEST_NO_SAVE=True)) as not_saving:
        assert not_saving.backtest_deps.database is None
        assert "db" not in not_saving.built()
