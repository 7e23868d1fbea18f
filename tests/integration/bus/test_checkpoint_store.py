"""Event Hubs with no checkpoint store: consumers are refused, publishing and diagnostics still work.

Runs against the AMQP test server (see docs/bus.md); the consumer entry points run as their own
processes with the runbook's ``KEY=VALUE`` arguments.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from app.bootstrap import build_bus
from app.bus.diagnostics import quicksend
from app.bus.envelope import Envelope
from app.config import Settings
from app.errors import ConfigError
from tests.eventhubs_server.server import EventHubsTestServer
from tests.servers import REPO

HUB = "exec.orders"


def test_consumer_is_refused_while_publishing_and_the_diagnostics_check_work(
    eventhubs_server: EventHubsTestServer, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(EH_CONNECTION_STRING=eventhubs_server.connection_string())
    bus = build_bus(settings)
    try:
        with pytest.raises(ConfigError, match=r"exec.orders/orchestrator has no checkpoint store"):
            bus.consumer(HUB, settings.EH_CONSUMER_GROUP)
        receipts = bus.publish(HUB, [Envelope.wrap("order.intent", {"n": 1}, partition_key="AAPL")])
        assert [r.hub for r in receipts] == [HUB]
        result = quicksend(bus, HUB, timeout_s=30, partitions=2)  # the diagnostics group is exempt
        assert result.group == "diagnostics"
    finally:
        bus.close()


def test_opt_in_memory_checkpoints_are_lost_with_the_consumer(
    eventhubs_server: EventHubsTestServer, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(
        EH_CONNECTION_STRING=eventhubs_server.connection_string(), EH_ALLOW_MEMORY_CHECKPOINTS=True
    )
    bus = build_bus(settings)
    try:
        sent = Envelope.wrap("order.intent", {"n": 1}, partition_key="AAPL")
        bus.publish(HUB, [sent])
        for _ in range(2):  # the second consumer (a restart) starts over: nothing was stored
            consumer = bus.consumer(HUB, settings.EH_CONSUMER_GROUP)
            try:
                got: list[str] = []
                for _ in range(40):
                    batch = consumer.poll(10, 0.25)
                    got += [d.envelope.event_id for d in batch if d.envelope is not None]
                    consumer.checkpoint(batch)
                    if got:
                        break
                assert got == [sent.event_id]
            finally:
                consumer.close()
    finally:
        bus.close()


@pytest.mark.parametrize(
    ("script", "group_key"),
    [("order_consumer.py", "EH_CONSUMER_GROUP"), ("sweep_job_consumer.py", "EH_CONSUMER_GROUP_SWEEP")],
)
def test_consumer_processes_exit_2_naming_the_missing_store(
    eventhubs_server: EventHubsTestServer, tmp_path: Path, script: str, group_key: str
) -> None:
    args = [
        f"EH_CONNECTION_STRING={eventhubs_server.connection_string()}",
        f"DATABASE_URL=sqlite:///{tmp_path / 'db.sqlite'}",
        f"DATA_DIR={tmp_path}",
        "IDLE_EXIT_SECONDS=1",
    ]
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / script), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    output = done.stdout + done.stderr
    assert "has no checkpoint store" in output
    assert "EH_ALLOW_MEMORY_CHECKPOINTS=1" in output
    assert "SharedAccessKey" not in output
