"""Redis faults: a restart without persistence, a lag race with a peer, members in other PID
namespaces. Each runs against real Redis servers."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from app.bootstrap import build_bus
from app.bus.envelope import Envelope
from app.bus.redis.client import RedisBus, RedisConsumer
from app.config import Settings
from app.errors import BusError
from tests.servers import REPO, free_port, port_open, wait_for

HUB = "exec.orders"
GROUP = "orchestrator"


def _events(prefix: str, count: int) -> list[Envelope]:
    return [
        Envelope.wrap("test.event", {"n": i}, partition_key=f"{prefix}-{i}", event_id=f"{prefix}-{i}")
        for i in range(count)
    ]


@contextmanager
def _redis_on(port: int, *, aof: bool = False, no_config: bool = False) -> Iterator[subprocess.Popen[bytes]]:
    """A Redis on ``port``, without persistence unless ``aof``; stopped on exit."""
    workdir = Path(tempfile.mkdtemp(prefix="ait-redis-restart-"))
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes" if aof else "no",
        ]
        + ["--dir", str(workdir)]
        + (["--rename-command", "CONFIG", ""] if no_config else []),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: port_open(port), 10, "redis")
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        shutil.rmtree(workdir, ignore_errors=True)


def _drain(consumer: RedisConsumer, want: set[str], timeout_s: float) -> set[str]:
    seen: set[str] = set()
    deadline = time.monotonic() + timeout_s
    while not want <= seen and time.monotonic() < deadline:
        try:
            batch = consumer.poll(100, 0.2)
        except BusError:  # Redis still down: a real consumer retries the same way
            time.sleep(0.1)
            continue
        seen |= {d.envelope.event_id for d in batch if d.envelope is not None}
        consumer.checkpoint(batch)
    return seen


def test_consumer_resumes_after_redis_restarts_empty(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    settings = make_settings(BUS_URL=f"redis://127.0.0.1:{port}/0", BUS_LEASE_S=2)
    with _redis_on(port):
        bus = build_bus(settings)
        assert isinstance(bus, RedisBus)
        consumer = bus.consumer(HUB, GROUP)
        assert isinstance(consumer, RedisConsumer)
        before = _events("before", 40)
        bus.publish(HUB, before)
        assert _drain(consumer, {e.event_id for e in before}, 10) == {e.event_id for e in before}
    with _redis_on(port):  # the same address, empty: streams, groups and leases are gone
        after = _events("after", 60)
        bus.publish(HUB, after)
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="app.bus.redis"):
            seen = _drain(consumer, {e.event_id for e in after}, 15)
        assert seen == {e.event_id for e in after}
        assert "recreated it at the start of each partition stream" in caplog.text
        consumer.close()
        bus.close()


def test_persistence_check_warns_when_aof_is_off(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    with _redis_on(port):
        bus = build_bus(make_settings(BUS_URL=f"redis://127.0.0.1:{port}/0"))
        assert isinstance(bus, RedisBus)
        with caplog.at_level(logging.WARNING, logger="app.bus.redis"):
            bus.consumer(HUB, GROUP).close()
        assert bus.check_persistence() is False
        assert "REDIS PERSISTENCE IS OFF" in caplog.text
        bus.close()


def test_persistence_check_tolerates_config_being_disabled(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    with _redis_on(port, no_config=True):
        bus = build_bus(make_settings(BUS_URL=f"redis://127.0.0.1:{port}/0"))
        assert isinstance(bus, RedisBus)
        with caplog.at_level(logging.INFO, logger="app.bus.redis"):
            consumer = bus.consumer(HUB, GROUP)
        assert bus.check_persistence() is None
        assert "cannot check whether Redis keeps an append-only file" in caplog.text
        consumer.close()
        bus.close()


def test_persistence_check_reports_aof_on(make_settings: Callable[..., Settings]) -> None:
    port = free_port()
    with _redis_on(port, aof=True):
        bus = build_bus(make_settings(BUS_URL=f"redis://127.0.0.1:{port}/0"))
        assert isinstance(bus, RedisBus)
        assert bus.check_persistence() is True
        bus.close()


def test_lag_survives_a_peer_acknowledging_between_its_reads(
    redis_url: str, make_settings: Callable[..., Settings]
) -> None:
    bus = build_bus(make_settings(BUS_URL=redis_url))
    assert isinstance(bus, RedisBus)
    consumer = bus.consumer(HUB, GROUP)
    assert isinstance(consumer, RedisConsumer)
    bus.publish(HUB, _events("lag", 30))
    batch: list[Any] = []
    deadline = time.monotonic() + 10
    while len(batch) < 30 and time.monotonic() < deadline:
        batch += consumer.poll(100, 0.2)
    assert len(batch) == 30  # delivered, not acknowledged: all pending
    real_xinfo = consumer._redis.xinfo_groups
    peer = consumer._redis

    def xinfo_then_peer_acks(stream: str) -> Any:
        info = real_xinfo(stream)
        ids = [d.offset for d in batch if bus.stream(HUB, d.partition) == stream]
        if ids:
            peer.xack(stream, GROUP, *ids)  # the peer's checkpoint lands between the two reads
        return info

    consumer._redis.xinfo_groups = xinfo_then_peer_acks  # type: ignore[method-assign,assignment]
    try:
        lags = consumer.lag()
    finally:
        del consumer._redis.xinfo_groups
    assert sum(lag.events_behind for lag in lags) == 0
    assert all(lag.seconds_behind == 0.0 for lag in lags)
    consumer.close()
    bus.close()


def _owner_worker(out: Path, env: dict[str, str], *, new_pid_namespace: bool) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "tests.integration.bus.owner_worker", HUB, GROUP, str(out)]
    if new_pid_namespace:
        argv = ["unshare", "--pid", "--fork", "--kill-child", *argv]
    return subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _owned_between(out: Path, since: float, until: float) -> list[tuple[float, list[int]]]:
    rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    return [(row["t"], row["partitions"]) for row in rows if since <= row["t"] <= until]


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--pid", "--fork", "true"], capture_output=True, check=False)
    return probe.returncode == 0


@pytest.mark.parametrize("namespaces", ["same", "separate"])
def test_two_members_share_partitions_stably(redis_url: str, tmp_path: Path, namespaces: str) -> None:
    if namespaces == "separate" and not _unshare_works():
        pytest.skip("unshare --pid needs root (or user namespaces) on this machine")
    # a lease long enough that a busy 2-core host never starves a renewal past it
    env = {**os.environ, "BUS_URL": redis_url, "BUS_LEASE_S": "3", "PYTHONPATH": str(REPO)}
    outs = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    procs = [
        _owner_worker(outs[0], env, new_pid_namespace=False),
        _owner_worker(outs[1], env, new_pid_namespace=namespaces == "separate"),
    ]
    try:
        time.sleep(9.0)  # start-up and a few lease periods to settle
        since = time.time()
        time.sleep(4.0)  # then watch: both keep their half, nobody evicts the other
        until = time.time()
        for proc in procs:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else b""
    finally:
        for proc in procs:  # (unshare --kill-child takes its child along)
            proc.kill()
            proc.wait(timeout=10)
    a, b = (_owned_between(out, since, until) for out in outs)
    assert a and b
    a_sets = {tuple(p) for _, p in a}
    b_sets = {tuple(p) for _, p in b}
    assert len(a_sets) == 1, a_sets  # stable: no partition moved while both were alive
    assert len(b_sets) == 1, b_sets
    (held_a,), (held_b,) = a_sets, b_sets
    assert held_a and held_b
    assert not set(held_a) & set(held_b)
    assert abs(len(held_a) - len(held_b)) <= 1
