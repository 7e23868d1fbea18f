"""Bus backends for the contract suite: each test runs on every backend, against real servers."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

import pytest

from app.bootstrap import build_bus
from app.bus.ports import Bus, BusAdmin
from app.config import Settings
from tests.eventhubs_server.fixtures import eventhubs_server
from tests.eventhubs_server.server import EventHubsTestServer

__all__ = ["eventhubs_server"]

BACKENDS = ["local", "redis", "eventhubs"]

# The live Event Hubs test is collected only when a real namespace is configured, so normal
# runs neither run nor skip it (see docs/bus.md).
collect_ignore = [] if os.environ.get("EH_TEST_CONNECTION_STRING") else ["test_live_eventhubs.py"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def bus_env(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """Environment keys that select ``backend`` (also handed to worker processes)."""
    if backend == "local":
        return {"BUS_URL": f"local://{tmp_path}/bus.db"}
    if backend == "redis":
        return {"BUS_URL": str(request.getfixturevalue("redis_url"))}
    if backend == "eventhubs":
        server: EventHubsTestServer = request.getfixturevalue("eventhubs_server")
        azurite = request.getfixturevalue("azurite")
        return {
            "EH_CONNECTION_STRING": server.connection_string(),
            "AZURE_STORAGE_CONNECTION_STRING": azurite.extra["connection_string"],
            "CHECKPOINT_CONTAINER": f"ckpt-{uuid.uuid4().hex[:12]}",
            "BUS_LEASE_S": "2",
            "AIT_TEST_PATCH_EVENTHUBS": "1",
        }
    raise AssertionError(f"unknown backend {backend}")


@pytest.fixture
def expire(backend: str, request: pytest.FixtureRequest) -> Callable[[Bus, float], None]:
    """Let ``hours`` pass for retention: the backend's own clean-up, or the service's clock."""

    def run(bus: Bus, hours: float) -> None:
        if backend == "eventhubs":
            request.getfixturevalue("eventhubs_server").advance(hours * 3600)
        else:
            cast(BusAdmin, bus).apply_retention(now=time.time() + hours * 3600)

    return run


@pytest.fixture
def bus_settings(bus_env: dict[str, str], make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(**{k: v for k, v in bus_env.items() if k in Settings.model_fields})


@pytest.fixture
def open_bus(bus_settings: Settings) -> Iterator[Callable[[], Bus]]:
    """Open a new bus client on the same store (a second call acts like a restarted process)."""
    opened: list[Bus] = []

    def build() -> Bus:
        bus = build_bus(bus_settings)
        opened.append(bus)
        return bus

    yield build
    for bus in opened:
        bus.close()
