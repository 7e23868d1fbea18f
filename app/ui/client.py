"""The console's one way to the platform: its own API, fetched concurrently with short timeouts.

Every page asks for what it needs as named calls (``{"orders": lambda: api.get("/orders")}``);
:func:`fetch_all` runs them at once on a small thread pool and waits at most a deadline, so a
page over a hung API returns after about one timeout, not one per panel. Each result is an
:class:`Outcome`: the value, or one line saying why it is missing, never a traceback.

The bearer token stays in this server process; the browser never sees it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import httpx

from app.config import Settings
from app.errors import AiTraderError

__all__ = ["ApiError", "ConsoleApi", "Outcome", "build_api", "fetch_all"]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 1.5
"""Per request: connect, send and each read. A hung API costs one of these per page."""
DEADLINE_MARGIN_S = 0.4
"""How much longer than one timeout :func:`fetch_all` waits for the whole batch."""

_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="console-fetch")


class ApiError(AiTraderError):
    """The API could not be reached or refused the request; the message is one line for the page."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _problem(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return (
            response.text.strip().splitlines()[0][:200] if response.text.strip() else response.reason_phrase
        )
    if isinstance(body, dict):
        detail = body.get("detail") or body.get("title")
        if isinstance(detail, list):  # FastAPI validation errors
            detail = "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail)
        if detail:
            return str(detail)[:300]
    return response.reason_phrase


class ConsoleApi:
    """A synchronous client of the platform API with one shared connection pool."""

    def __init__(self, base_url: str, token: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=8),
        )

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise ApiError(f"the API at {self.base_url} did not answer within {self.timeout_s:g} s") from exc
        except httpx.HTTPError as exc:
            raise ApiError(f"the API at {self.base_url} is unreachable ({type(exc).__name__})") from exc
        if response.status_code >= 400:
            raise ApiError(
                f"{method} {path}: {response.status_code} {_problem(response)}", response.status_code
            )
        try:
            return response.json()
        except ValueError as exc:
            raise ApiError(f"{method} {path}: the API answered something that is not JSON") from exc

    def get(self, path: str, **params: Any) -> Any:
        query = {k: v for k, v in params.items() if v not in (None, "")}
        return self._send("GET", path, params=query)

    def post(self, path: str, body: Mapping[str, Any]) -> Any:
        return self._send("POST", path, json=dict(body))

    def close(self) -> None:
        self._http.close()


def build_api(settings: Settings) -> ConsoleApi:
    """The API at ``API_BASE_URL`` (default: the local API on ``PORT``) with ``API_BEARER_TOKEN``."""
    base = settings.API_BASE_URL or f"http://127.0.0.1:{settings.api_port}"
    token = settings.API_BEARER_TOKEN.get_secret_value() if settings.API_BEARER_TOKEN else None
    return ConsoleApi(base, token)


@dataclass(frozen=True, slots=True)
class Outcome:
    """One source's answer: ``value`` when it answered, else ``error`` (one line)."""

    value: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _settle(future: Future[Any]) -> Outcome:
    exc = future.exception()
    if exc is None:
        return Outcome(value=future.result())
    if isinstance(exc, AiTraderError):
        return Outcome(error=str(exc))
    log.warning("console source failed", exc_info=exc)
    return Outcome(error=f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": "))


def fetch_all(calls: Mapping[str, Callable[[], Any]], deadline_s: float) -> dict[str, Outcome]:
    """Run ``calls`` concurrently; whatever has not answered after ``deadline_s`` is an error."""
    futures = {name: _POOL.submit(call) for name, call in calls.items()}
    wait(futures.values(), timeout=deadline_s)
    results: dict[str, Outcome] = {}
    for name, future in futures.items():
        if future.done():
            results[name] = _settle(future)
        else:
            future.cancel()
            results[name] = Outcome(error=f"no answer within {deadline_s:g} s")
    return results
