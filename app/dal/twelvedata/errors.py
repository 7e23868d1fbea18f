"""Map Twelve Data answers to DAL errors.

Errors come as ``{"code", "message", "status": "error"}``, with the HTTP status equal to
``code`` on current deployments and 200 on older ones, so the body decides: 401 auth, 403/404
unknown symbol or plan, 429 credits (the per-minute limit is retried, the daily one is not),
400 "No data is available" is an empty answer, 5xx transient.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import ValidationError

from app.dal.errors import BadBars, VendorDown, VendorRefused
from app.dal.http import Route, Transient, json_body, retry_after_seconds
from app.dal.twelvedata.schemas import TimeSeries, TimeSeriesError

__all__ = ["classify"]


def classify(response: httpx.Response, route: Route) -> TimeSeries:
    """Return the series of a data answer (empty for "no data"), or raise the matching error."""
    status = response.status_code
    if status >= 500:
        raise Transient(response.text[:200].strip() or response.reason_phrase, status)
    payload: Any = json_body(response, route)
    if not isinstance(payload, dict):
        raise BadBars(
            route.vendor,
            route.symbol,
            route.interval,
            f"expected a JSON object, got {type(payload).__name__}",
        )
    if payload.get("status") == "error" or status != 200:
        try:
            error = TimeSeriesError.model_validate(payload)
        except ValidationError:
            error = TimeSeriesError(code=status, message=str(payload)[:200])
        code = error.code or status
        message = error.message
        if code == 429:
            if "for the day" in message:
                raise VendorDown(
                    route.vendor, route.symbol, route.interval, message, status=code, kind="daily credits"
                )
            raise Transient(message, code, retry_after=retry_after_seconds(response))
        if code == 400 and "no data is available" in message.lower():
            return TimeSeries(values=[])
        kind = {401: "auth", 403: "plan", 404: "unknown symbol or plan"}.get(code, "bad request")
        raise VendorRefused(route.vendor, route.symbol, route.interval, message, status=code, kind=kind)
    try:
        return TimeSeries.model_validate(payload)
    except ValidationError as exc:
        raise BadBars(
            route.vendor, route.symbol, route.interval, f"unexpected time_series payload: {exc}"
        ) from exc
