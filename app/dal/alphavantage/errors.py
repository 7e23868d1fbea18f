"""Map Alpha Vantage answers to DAL errors.

Alpha Vantage answers HTTP 200 to nearly everything and puts the problem in the body:
``Error Message`` (bad key, bad symbol or parameters), ``Note`` or ``Information`` (rate
limits, premium-only features, the demo key). A per-minute rate limit is retried; the daily
quota is reported at once as :class:`VendorDown`; premium and other notices are refusals.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from app.dal.errors import BadBars, VendorDown, VendorRefused
from app.dal.http import Route, Transient, json_body, retry_after_seconds

__all__ = ["classify"]

_DAILY_QUOTA = re.compile(r"per day|requests per day|daily", re.IGNORECASE)
_RATE = re.compile(r"call frequency|rate limit|calls per minute|per minute|higher API call", re.IGNORECASE)


def classify(response: httpx.Response, route: Route) -> dict[str, Any]:
    """Return the JSON payload of a data answer, or raise the matching error."""
    status = response.status_code
    if status == 429 or status >= 500:
        raise Transient(
            response.text[:200].strip() or response.reason_phrase,
            status,
            retry_after=retry_after_seconds(response),
        )
    if status != 200:
        raise VendorRefused(
            route.vendor,
            route.symbol,
            route.interval,
            response.text[:200].strip(),
            status=status,
            kind="bad request",
        )
    payload = json_body(response, route)
    if not isinstance(payload, dict):
        raise BadBars(
            route.vendor,
            route.symbol,
            route.interval,
            f"expected a JSON object, got {type(payload).__name__}",
        )
    if "Error Message" in payload:
        message = str(payload["Error Message"])
        kind = "auth" if "apikey" in message.lower() else "invalid call (unknown symbol or parameters)"
        raise VendorRefused(route.vendor, route.symbol, route.interval, message, kind=kind)
    for field in ("Note", "Information"):
        if field in payload:
            message = str(payload[field])
            if "premium" in message.lower() and not _RATE.search(message):
                raise VendorRefused(route.vendor, route.symbol, route.interval, message, kind="plan")
            if _RATE.search(message) or _DAILY_QUOTA.search(message):
                if _DAILY_QUOTA.search(message) and not re.search(r"per minute", message, re.IGNORECASE):
                    raise VendorDown(route.vendor, route.symbol, route.interval, message, kind="daily quota")
                raise Transient(f"rate limited: {message}")
            raise VendorRefused(route.vendor, route.symbol, route.interval, message, kind="notice")
    return payload
