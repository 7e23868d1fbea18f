"""Map Yahoo chart answers to DAL errors.

404 with ``chart.error`` is an unknown (or delisted) symbol, 422 a range or interval Yahoo
will not serve (intraday history limits), 401/403 a refusal, 429 (plain text) and 5xx are
transient.
"""

from __future__ import annotations

import httpx
from pydantic import ValidationError

from app.dal.errors import BadBars, VendorRefused
from app.dal.http import Route, Transient, json_body, retry_after_seconds
from app.dal.yahoo.schemas import ChartEnvelope

__all__ = ["classify"]


def _description(response: httpx.Response) -> str:
    try:
        error = ChartEnvelope.model_validate(response.json()).chart.error
    except (ValueError, ValidationError):
        return response.text[:200].strip() or response.reason_phrase
    if error is None:
        return response.text[:200].strip()
    return f"{error.code}: {error.description}" if error.code else error.description


def classify(response: httpx.Response, route: Route) -> ChartEnvelope:
    """Return the chart envelope of a 200 answer, or raise the matching error."""
    status = response.status_code
    if status == 429 or status >= 500:
        raise Transient(_description(response), status, retry_after=retry_after_seconds(response))
    if status != 200:
        kind = {404: "unknown symbol", 422: "range or interval not available", 401: "auth", 403: "auth"}.get(
            status, "bad request"
        )
        raise VendorRefused(
            route.vendor, route.symbol, route.interval, _description(response), status=status, kind=kind
        )
    try:
        envelope = ChartEnvelope.model_validate(json_body(response, route))
    except ValidationError as exc:
        raise BadBars(route.vendor, route.symbol, route.interval, f"unexpected chart payload: {exc}") from exc
    if envelope.chart.error is not None:
        err = envelope.chart.error
        raise VendorRefused(
            route.vendor, route.symbol, route.interval, f"{err.code}: {err.description}", status=200
        )
    if not envelope.chart.result:
        raise BadBars(route.vendor, route.symbol, route.interval, "chart.result is empty")
    return envelope
