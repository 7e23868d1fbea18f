"""HTTP plumbing shared by the network vendors: one client, bounded retries, error mapping.

An adapter gives :meth:`VendorHttp.get` a *classifier* that turns a response into its JSON
payload or raises. Raising :class:`Transient` asks for a retry (429, 5xx, Alpha Vantage's
rate-limit note); after ``max_retries`` retries with exponential back-off the last transient
failure becomes :class:`~app.dal.errors.VendorDown`. Network errors and timeouts count as
transient too. Anything else the classifier raises propagates unchanged.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from pydantic import SecretStr
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from app.dal.errors import BadBars, MissingVendorKey, VendorDown

__all__ = ["HttpConfig", "Route", "Transient", "VendorHttp", "json_body", "require_key"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Route:
    """Who is being asked for what (used in every error message)."""

    vendor: str
    symbol: str
    interval: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpConfig:
    """Connection settings of one vendor."""

    base_url: str
    timeout_s: float = 20.0
    max_retries: int = 3
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    headers: Mapping[str, str] = field(default_factory=dict)


class Transient(Exception):
    """A failure worth retrying; carries the vendor's message and HTTP status."""

    def __init__(self, message: str, status: int | None = None, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after


def require_key(value: SecretStr | None, variable: str, route: Route) -> str:
    """Return the secret, or raise :class:`MissingVendorKey` naming ``variable``."""
    secret = value.get_secret_value().strip() if value is not None else ""
    if not secret:
        raise MissingVendorKey(
            route.vendor, route.symbol, route.interval, f"{variable} is not set; no request was sent"
        )
    return secret


def json_body(response: httpx.Response, route: Route) -> Any:
    """Decode a JSON body or raise :class:`BadBars` quoting the start of it."""
    try:
        return response.json()
    except ValueError:
        snippet = response.text[:200].strip()
        raise BadBars(
            route.vendor,
            route.symbol,
            route.interval,
            f"response is not JSON: {snippet!r}",
            status=response.status_code,
        ) from None


def retry_after_seconds(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None


class VendorHttp:
    """A synchronous httpx client for one vendor with a bounded retry budget."""

    def __init__(self, config: HttpConfig, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self._client = httpx.Client(
            base_url=config.base_url,
            timeout=config.timeout_s,
            headers={"User-Agent": "ai-trader-dal/0.1", **config.headers},
            transport=transport,
            follow_redirects=True,
        )

    def close(self) -> None:
        self._client.close()

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, Transient) and exc.retry_after is not None:
            return min(exc.retry_after, self.config.max_backoff_s)
        delay: float = self.config.backoff_s * (2 ** (state.attempt_number - 1))
        jitter = random.uniform(0.0, 0.25 * delay)  # spread retries of parallel callers
        return min(delay + jitter, self.config.max_backoff_s)

    def get(
        self,
        path: str,
        params: Mapping[str, str | int],
        route: Route,
        classify: Callable[[httpx.Response], T],
        headers: Mapping[str, str] | None = None,
    ) -> T:
        """GET ``path`` and hand the response to ``classify``, retrying transient failures.

        Raises:
            VendorDown: still failing after the retry budget.
        """

        def once() -> T:
            try:
                response = self._client.get(path, params=dict(params), headers=dict(headers or {}))
            except httpx.TimeoutException as exc:
                raise Transient(
                    f"timed out after {self.config.timeout_s:g} s ({type(exc).__name__})"
                ) from exc
            except httpx.TransportError as exc:
                raise Transient(f"network error: {exc}") from exc
            return classify(response)

        retrying = Retrying(
            stop=stop_after_attempt(self.config.max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception_type(Transient),
            reraise=True,
        )
        try:
            return retrying(once)
        except Transient as exc:
            attempts = self.config.max_retries + 1
            raise VendorDown(
                route.vendor,
                route.symbol,
                route.interval,
                f"{exc.message} (gave up after {attempts} attempt{'s' if attempts != 1 else ''})",
                status=exc.status,
            ) from exc
