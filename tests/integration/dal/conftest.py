"""Fixtures: the recorded-vendor server and settings pointing the DAL at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from app.bootstrap import build_market_data
from app.config import Settings
from app.dal import MarketData
from tests.integration.dal.vendor_server import VendorServer, vendor_server


@pytest.fixture(scope="session")
def _vendor_server_session() -> Iterator[VendorServer]:
    with vendor_server() as server:
        yield server


@pytest.fixture
def vendors(_vendor_server_session: VendorServer) -> VendorServer:
    """The vendor server with no queued answers and an empty request log."""
    _vendor_server_session.state.reset()
    return _vendor_server_session


@pytest.fixture
def vendor_settings(vendors: VendorServer, make_settings: Callable[..., Settings]) -> Callable[..., Settings]:
    """Build Settings whose vendor URLs and keys point at the local server."""

    def build(**overrides: Any) -> Settings:
        values = {**vendors.settings_values(), **overrides}
        return make_settings(**values)

    return build


@pytest.fixture
def md(vendor_settings: Callable[..., Settings]) -> MarketData:
    return build_market_data(vendor_settings())
