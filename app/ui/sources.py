"""Where the console reads orders and fills from.

The runbook's production mode reads everything from the API at ``API_BASE_URL`` with
``API_BEARER_TOKEN`` (kept in this server process). When ``DATABASE_URL`` is set, orders and
fills are read straight from the database instead, as before; everything else (status, kill
switch, sweeps, schedule) always comes from the API, so the console and the API agree on live
state.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from app.config import Settings
from app.ui.client import ConsoleApi, build_api

if TYPE_CHECKING:
    from app.bootstrap import Container
    from app.storage.repositories.orders import OrdersRepository

__all__ = ["DashboardSource", "build_source"]


class DashboardSource:
    """Orders and fills from the database or the API as configured.

    ``orders`` gives the order repository on the process's database (used only when
    ``DATABASE_URL`` is set; called on first use, so no engine is opened otherwise).
    """

    def __init__(self, settings: Settings, api: ConsoleApi, orders: Callable[[], OrdersRepository]) -> None:
        self.settings = settings
        self.api = api
        self._orders = orders
        self.orders_from = "database" if settings.DATABASE_URL is not None else "api"

    def orders(
        self,
        limit: int = 50,
        symbol: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
    ) -> list[dict[str, Any]]:
        if self.orders_from == "api":
            page = self.api.get(
                "/orders",
                limit=limit,
                symbol=symbol,
                status=status,
                since=since.isoformat() if since else None,
            )
            return list(page["items"])
        from app.domain.orders import OrderStatus

        listing = self._orders().list_orders(
            limit=limit, symbol=symbol or None, status=OrderStatus(status) if status else None, since=since
        )
        return [_as_dict(item) for item in listing.items]

    def fills(
        self, limit: int = 50, symbol: str | None = None, since: datetime | None = None
    ) -> list[dict[str, Any]]:
        if self.orders_from == "api":
            page = self.api.get(
                "/fills", limit=limit, symbol=symbol, since=since.isoformat() if since else None
            )
            return list(page["items"])
        listing = self._orders().list_fills(limit=limit, symbol=symbol or None, since=since)
        return [_as_dict(item) for item in listing.items]


def _as_dict(item: Any) -> dict[str, Any]:
    return {name: getattr(item, name) for name in item.__slots__}


def build_source(container: Container, api: ConsoleApi | None = None) -> DashboardSource:
    """The console's order source on the process's container (its database, when configured)."""
    return DashboardSource(container.settings, api or build_api(container.settings), lambda: container.orders)
