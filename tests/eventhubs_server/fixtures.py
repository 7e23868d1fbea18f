"""Pytest fixtures for the Event Hubs test server (imported by the bus test conftests)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.bus.topology import topology
from app.config import Settings
from tests.eventhubs_server import client_patch
from tests.eventhubs_server.server import EventHubsTestServer
from tests.servers import free_port


@pytest.fixture
def eventhubs_server() -> Iterator[EventHubsTestServer]:
    """A fresh Event Hubs test server with the runbook's hubs, on a free loopback port."""
    client_patch.install()
    hubs = {spec.name: (spec.partitions, spec.retention_hours) for spec in topology(Settings(_env_file=None))}  # type: ignore[call-arg]
    server = EventHubsTestServer(hubs, free_port()).start()
    yield server
    server.stop()
