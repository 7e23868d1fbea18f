"""Where the dashboard reads from.

Orders and fills come straight from the database when ``DATABASE_URL`` is set; otherwise
(restricted or container-hosted deployments) from the API's ``GET /orders`` and ``GET /fills``
at ``API_BASE_URL`` with ``API_BEARER_TOKEN``. Health, sweep jobs and the kill switch always
come from the API, so the dashboard and the API agree on live state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from app.config import Settings
from app.errors import AiTraderError, RetryableError

__all__ = ["ApiClient", "DashboardSource", "build_source"]


@dataclass(frozen=True, slots=True)
class ApiClient:
    """A small synchronous client for the platform's own API."""

    base_url: str
    token: str | None = None
    timeout_s: float = 5.0

    def get(self, path: str, **params: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        query = {k: v for k, v in params.items() if v not in (None, "")}
        try:
            response = httpx.get(
                f"{self.base_url}{path}", params=query, headers=headers, timeout=self.timeout_s
            )
        except httpx.HTTPError as exc:
            raise RetryableError(f"API at {self.base_url} unreachable: {exc}") from exc
        if response.status_code == 503 and path.startswith("/health"):
            return response.json()
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise AiTraderError(f"GET {path} answered {response.status_code}: {detail}")
        return response.json()


class DashboardSource:
    """Everything the dashboard shows, from the database or the API as configured."""

    def __init__(self, settings: Settings, api: ApiClient) -> None:
        self.settings = settings
        self.api = api
        self.orders_from = "database" if settings.DATABASE_URL is not None else "api"

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self.api.get("/health/ready")
        return result

    def orders(
        self, limit: int = 50, symbol: str | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        if self.orders_from == "api":
            page = self.api.get("/orders", limit=limit, symbol=symbol, status=status)
            return list(page["items"])
        from app.domain.orders import OrderStatus
        from app.storage.db import Database
        from app.storage.repositories.orders import OrdersRepository

        database = Database.from_settings(self.settings)
        try:
            listing = OrdersRepository(database).list_orders(
                limit=limit, symbol=symbol or None, status=OrderStatus(status) if status else None
            )
        finally:
            database.dispose()
        return [_as_dict(item) for item in listing.items]

    def fills(self, limit: int = 50, symbol: str | None = None) -> list[dict[str, Any]]:
        if self.orders_from == "api":
            page = self.api.get("/fills", limit=limit, symbol=symbol)
            return list(page["items"])
        from app.storage.db import Database
        from app.storage.repositories.orders import OrdersRepository

        database = Database.from_settings(self.settings)
        try:
            listing = OrdersRepository(database).list_fills(limit=limit, symbol=symbol or None)
        finally:
            database.dispose()
        return [_as_dict(item) for item in listing.items]

    def kill_switch(self) -> dict[str, Any]:
        result: dict[str, Any] = self.api.get("/risk/kill-switch")
        return result

    def sweep_jobs(self, limit: int = 50) -> dict[str, Any]:
        result: dict[str, Any] = self.api.get("/backtests/sweeps/jobs", limit=limit)
        return result


def _as_dict(item: Any) -> dict[str, Any]:
    return {name: getattr(item, name) for name in item.__slots__}


def build_source(settings: Settings) -> DashboardSource:
    base = settings.API_BASE_URL or f"http://127.0.0.1:{settings.api_port}"
    token = settings.API_BEARER_TOKEN.get_secret_value() if settings.API_BEARER_TOKEN else None
    return DashboardSource(settings, ApiClient(base, token))
