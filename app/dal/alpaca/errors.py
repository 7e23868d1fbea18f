"""Map Alpaca HTTP answers to DAL errors.

403 (missing/wrong keys, plan) and 401 are auth refusals, 400/404/422 bad requests (an
invalid symbol), 429 and 5xx transient. Error bodies are ``{"message": ...}``.
"""

from __future__ import annotations

import httpx
from pydantic import ValidationError

from app.dal.alpaca.schemas import AlpacaBarsPage, AlpacaError
from app.dal.errors import BadBars, VendorRefused
from app.dal.http import Route, Transient, json_body, retry_after_seconds

__all__ = ["classify"]


def _message(response: httpx.Response) -> str:
    try:
        return AlpacaError.model_validate(response.json()).message or response.text[:200]
    except (ValueError, ValidationError):
        return response.text[:200].strip() or response.reason_phrase


def classify(response: httpx.Response, route: Route) -> AlpacaBarsPage:
    """Return the bars page of a 200 answer, or raise the matching error."""
    status = response.status_code
    if status == 200:
        try:
            return AlpacaBarsPage.model_validate(json_body(response, route))
        except ValidationError as exc:
            raise BadBars(
                route.vendor, route.symbol, route.interval, f"unexpected bars payload: {exc}"
            ) from exc
    message = _message(response)
    if status == 429 or status >= 500:
        raise Transient(message, status, retry_after=retry_after_seconds(response))
    kind = {401: "auth", 403: "auth or plan", 404: "not found"}.get(status, "bad request")
    raise VendorRefused(route.vendor, route.symbol, route.interval, message, status=status, kind=kind)
