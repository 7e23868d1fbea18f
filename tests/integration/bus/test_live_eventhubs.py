"""Opt-in: the Event Hubs backend against a real namespace.

Collected only when ``EH_TEST_CONNECTION_STRING`` is set (see ``conftest.collect_ignore``), so
normal runs neither run nor skip it. Optional: ``EH_TEST_HUB`` (default ``exec.orders``; the
hub and a ``diagnostics`` consumer group must exist) and ``EH_TEST_STORAGE_CONNECTION_STRING``
for blob checkpoints and dead letters.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from app.bootstrap import build_bus
from app.bus.diagnostics import quicksend
from app.config import Settings


def test_live_namespace_round_trip_through_diagnostics(make_settings: Callable[..., Settings]) -> None:
    values = {"EH_CONNECTION_STRING": os.environ["EH_TEST_CONNECTION_STRING"]}
    storage = os.environ.get("EH_TEST_STORAGE_CONNECTION_STRING")
    if storage:
        values["AZURE_STORAGE_CONNECTION_STRING"] = storage
    settings = make_settings(**values)
    bus = build_bus(settings)
    try:
        bus.ping()
        hub = os.environ.get("EH_TEST_HUB", settings.EH_HUB_ORDERS)
        result = quicksend(bus, hub, timeout_s=120)
        assert result.hub == hub
        assert 0 < result.latency_s < 60
    finally:
        bus.close()
