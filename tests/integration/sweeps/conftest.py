"""Fixtures for sweep integration tests: settings on a real database, the local bus, a fake ARM."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.backtest.sweeps.jobs import SweepJobService
from app.bootstrap import build_blob_store, build_bus, build_database
from app.bus.ports import Bus
from app.config import Settings
from tests.integration.sweeps.arm_server import ArmServer, arm_server


class StaticCredential:
    """A TokenCredential handing out a fixed token (what the SDK's bearer policy asks for)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken("test-token", 4_102_444_800)

    def get_token_info(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessTokenInfo

        return AccessTokenInfo("test-token", 4_102_444_800)


@pytest.fixture
def sweep_settings(make_settings: Callable[..., Settings], database_url: str) -> Settings:
    return make_settings(DATABASE_URL=database_url)


@pytest.fixture
def bus(sweep_settings: Settings) -> Iterator[Bus]:
    created = build_bus(sweep_settings)
    yield created
    created.close()


@pytest.fixture
def service(sweep_settings: Settings, bus: Bus) -> Iterator[SweepJobService]:
    database = build_database(sweep_settings)
    database.upgrade()
    yield SweepJobService(sweep_settings, database, build_blob_store(sweep_settings), bus)
    database.dispose()


@pytest.fixture
def arm(tmp_path: Path) -> Iterator[ArmServer]:
    with arm_server(tmp_path) as server:
        yield server
