"""The embedded SQLite bus: partitions, groups, checkpoints, ownership, dead letters, retention."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.bootstrap import build_bus
from app.bus.capabilities import Capability
from app.bus.envelope import Envelope
from app.bus.factory import local_bus_path
from app.bus.local import LocalBus, LocalBusConfig
from app.bus.partitioning import partition_for
from app.bus.ports import Bus, BusAdmin, Consumer
from app.bus.topology import HubSpec, topology
from app.config import Settings
from app.errors import BusError

HUBS = [HubSpec("orders", "t.orders", 2, 24), HubSpec("signals", "t.signals", 4, 48)]


@pytest.fixture
def open_bus(tmp_path: Path) -> Iterator[Callable[..., LocalBus]]:
    opened: list[LocalBus] = []

    def build(**config: float) -> LocalBus:
        bus = LocalBus(LocalBusConfig(path=tmp_path / "bus.db", **config), HUBS)
        opened.append(bus)
        return bus

    yield build
    for bus in opened:
        bus.close()


def _events(n: int, key: str = "AAPL") -> list[Envelope]:
    return [Envelope.wrap("test.event", {"n": i}, partition_key=key) for i in range(n)]


def test_local_bus_satisfies_the_bus_and_admin_protocols(open_bus: Callable[..., LocalBus]) -> None:
    bus = open_bus()
    consumer = bus.consumer("t.orders", "api")
    assert isinstance(bus, Bus)
    assert isinstance(bus, BusAdmin)
    assert isinstance(consumer, Consumer)
    assert Capability.LOCAL_RETENTION in bus.capabilities
    consumer.close()


def test_publish_assigns_consecutive_offsets_per_partition(open_bus: Callable[..., LocalBus]) -> None:
    bus = open_bus()
    receipts = bus.publish("t.orders", _events(3)) + bus.publish("t.orders", _events(2))
    partition = partition_for("AAPL", 2)
    assert [r.partition for r in receipts] == [partition] * 5
    assert [r.offset for r in receipts] == ["1", "2", "3", "4", "5"]


def test_publish_to_unknown_hub_names_the_configured_hubs(open_bus: Callable[..., LocalBus]) -> None:
    with pytest.raises(BusError, match=r"unknown hub 'nope'.*t\.orders"):
        open_bus().publish("nope", _events(1))


def test_consumer_of_unknown_group_is_refused(open_bus: Callable[..., LocalBus]) -> None:
    with pytest.raises(BusError, match="unknown consumer group 'typo'"):
        open_bus().consumer("t.orders", "typo")


def test_poll_returns_empty_after_timeout_when_idle(open_bus: Callable[..., LocalBus]) -> None:
    consumer = open_bus().consumer("t.orders", "api")
    started = time.monotonic()
    assert consumer.poll(10, timeout_s=0.1) == []
    assert 0.09 <= time.monotonic() - started < 1.0
    consumer.close()


def test_poll_respects_max_events_and_continues_where_it_stopped(open_bus: Callable[..., LocalBus]) -> None:
    bus = open_bus()
    bus.publish("t.orders", _events(7))
    consumer = bus.consumer("t.orders", "api")
    first = consumer.poll(5, 0.5)
    second = consumer.poll(5, 0.5)
    assert [d.envelope.payload["n"] for d in first + second if d.envelope] == list(range(7))
    assert len(first) == 5
    consumer.close()


def test_two_consumers_in_one_group_split_the_partitions(open_bus: Callable[..., LocalBus]) -> None:
    bus = open_bus(lease_s=0.3)
    first = bus.consumer("t.signals", "api")
    first.poll(1, 0.01)
    assert first.partitions == [0, 1, 2, 3]
    second = bus.consumer("t.signals", "api")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not (len(first.partitions) == 2 and len(second.partitions) == 2):
        first.poll(1, 0.05)
        second.poll(1, 0.05)
    assert sorted(first.partitions + second.partitions) == [0, 1, 2, 3]
    second.close()
    while time.monotonic() < deadline and len(first.partitions) < 4:
        first.poll(1, 0.05)
    assert first.partitions == [0, 1, 2, 3]
    first.close()


def test_lag_counts_unchecked_events_and_their_age(open_bus: Callable[..., LocalBus]) -> None:
    clock = [1_000_000.0]
    bus = LocalBus(open_bus().config, HUBS, clock=lambda: clock[0])
    bus.publish("t.orders", _events(4))
    partition = partition_for("AAPL", 2)
    consumer = bus.consumer("t.orders", "ui")
    clock[0] += 30
    lag = {entry.partition: entry for entry in consumer.lag()}
    assert lag[partition].events_behind == 4
    assert lag[partition].seconds_behind == pytest.approx(30)
    assert lag[1 - partition].events_behind == 0
    batch = consumer.poll(10, 0.5)
    consumer.checkpoint(batch[:3])
    assert {e.partition: e.events_behind for e in consumer.lag()}[partition] == 1
    consumer.checkpoint(batch)
    assert all(e.events_behind == 0 and e.seconds_behind == 0 for e in consumer.lag())
    consumer.close()
    bus.close()


def test_checkpoint_never_moves_backwards(open_bus: Callable[..., LocalBus]) -> None:
    bus = open_bus()
    bus.publish("t.orders", _events(5))
    consumer = bus.consumer("t.orders", "api")
    batch = consumer.poll(10, 0.5)
    consumer.checkpoint(batch)
    consumer.checkpoint(batch[:1])
    consumer.close()
    again = bus.consumer("t.orders", "api")
    assert again.poll(10, 0.1) == []
    again.close()


def test_retention_deletes_only_expired_events(open_bus: Callable[..., LocalBus]) -> None:
    bus = open_bus()
    bus.publish("t.orders", _events(3))
    bus.publish("t.signals", _events(3))
    deleted = bus.apply_retention(now=time.time() + 25 * 3600)
    assert deleted == 3
    assert bus.peek("t.orders", 10) == []
    assert len(bus.peek("t.signals", 10)) == 3


def test_peek_lists_newest_events_oldest_first(open_bus: Callable[..., LocalBus]) -> None:
    bus = open_bus()
    bus.publish("t.signals", _events(5))
    peeked = bus.peek("t.signals", 3)
    assert [d.envelope.payload["n"] for d in peeked if d.envelope] == [2, 3, 4]


def test_reopening_with_other_partition_counts_is_refused(tmp_path: Path) -> None:
    LocalBus(LocalBusConfig(path=tmp_path / "bus.db"), HUBS).close()
    with pytest.raises(BusError, match="has 2 partitions"):
        LocalBus(LocalBusConfig(path=tmp_path / "bus.db"), [HubSpec("orders", "t.orders", 3, 24)])


def test_provision_reports_every_hub(open_bus: Callable[..., LocalBus]) -> None:
    lines = open_bus().provision()
    assert any("t.signals: 4 partitions, 48 h retention" in line for line in lines)


def test_closed_consumer_refuses_work(open_bus: Callable[..., LocalBus]) -> None:
    consumer = open_bus().consumer("t.orders", "api")
    consumer.close()
    with pytest.raises(BusError, match="closed"):
        consumer.poll(1, 0)


def test_factory_builds_local_bus_by_default(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    bus = build_bus(settings)
    assert bus.kind == "local"
    assert local_bus_path(settings) == settings.DATA_DIR / "bus.db"
    assert [hub.name for hub in topology(settings)] == [
        "bars.raw",
        "signals.enriched",
        "regimes.snapshot",
        "backtest.jobs",
        "exec.orders",
    ]
    bus.ping()
    bus.close()


def test_factory_honours_a_local_bus_url(make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    settings = make_settings(BUS_URL=f"local://{tmp_path}/elsewhere.db")
    assert local_bus_path(settings) == tmp_path / "elsewhere.db"
    build_bus(settings).close()
    assert (tmp_path / "elsewhere.db").exists()
