"""Map Finnhub answers to DAL errors.

401 is a missing or invalid token, 403 a plan without access (``/stock/candle`` on free
keys), 422 bad parameters, 429 and 5xx transient. Error bodies are ``{"error": ...}``.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import ValidationError

from app.dal.errors import BadBars, VendorRefused
from app.dal.finnhub.schemas import FinnhubError
from app.dal.http import Route, Transient, json_body, retry_after_seconds

__all__ = ["classify"]


def _message(response: httpx.Response) -> str:
    try:
        return FinnhubError.model_validate(response.json()).error or response.text[:200]
    except (ValueError, ValidationError):
        return response.text[:200].strip() or response.reason_phrase


def classify(response: httpx.Response, route: Route) -> dict[str, Any]:
    """Return the JSON object of a 200 answer, or raise the matching error."""
    status = response.status_code
    if status == 429 or status >= 500:
        raise Transient(_message(response), status, retry_after=retry_after_seconds(response))
    if status != 200:
        kind = {401: "auth", 403: "plan"}.get(status, "bad request")
        raise VendorRefused(
            route.vendor, route.symbol, route.interval, _message(response), status=status, kind=kind
        )
    payload = json_body(response, route)
    if not isinstance(payload, dict):
        raise BadBars(
            route.vendor,
            route.symbol,
            route.interval,
            f"expected a JSON object, got {type(payload).__name__}",
        )
    if "error" in payload:
        raise VendorRefused(route.vendor, route.symbol, route.interval, str(payload["error"]), status=status)
    return payload
