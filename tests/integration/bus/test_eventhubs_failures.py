"""Event Hubs backend failures surface as BusError instead of a consumer that silently retries."""

from __future__ import annotations

import pytest

from app.bus.eventhubs import EventHubsBus, EventHubsConfig
from app.bus.topology import topology
from app.config import Settings
from app.errors import BusError
from tests.servers import free_port


def test_consumer_and_ping_of_unreachable_namespace_raise_bus_error() -> None:
    port = free_port()
    config = EventHubsConfig(
        connection_string=f"Endpoint=sb://127.0.0.1:{port};SharedAccessKeyName=k;SharedAccessKey=dg==;"
        "UseDevelopmentEmulator=true",
        retry_total=0,
        allow_memory_checkpoints=True,  # no storage here: let the consumer reach the network
    )
    bus = EventHubsBus(config, topology(Settings(_env_file=None)))  # type: ignore[call-arg]
    with pytest.raises(BusError, match=rf"cannot read exec.orders on 127.0.0.1:{port}"):
        bus.consumer("exec.orders", "orchestrator")
    with pytest.raises(BusError, match="does not answer"):
        bus.ping()
    bus.close()
