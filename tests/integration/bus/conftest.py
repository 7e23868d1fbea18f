"""Bus backends for the contract suite: each test runs on every backend, against real servers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.bus.factory import create_bus
from app.bus.ports import Bus
from app.config import Settings

BACKENDS = ["local", "redis"]


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
    raise AssertionError(f"unknown backend {backend}")


@pytest.fixture
def bus_settings(bus_env: dict[str, str], make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(**bus_env)


@pytest.fixture
def open_bus(bus_settings: Settings) -> Iterator[Callable[[], Bus]]:
    """Open a new bus client on the same store (a second call acts like a restarted process)."""
    opened: list[Bus] = []

    def build() -> Bus:
        bus = create_bus(bus_settings)
        opened.append(bus)
        return bus

    yield build
    for bus in opened:
        bus.close()
