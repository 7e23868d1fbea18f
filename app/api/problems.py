"""Errors as RFC 9457 problem details (``application/problem+json``), never HTML or a trace."""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from app.config import mask_secrets_in
from app.errors import (
    AiTraderError,
    BusError,
    ConfigError,
    InputError,
    NotFoundError,
    OrderRejected,
    RetryableError,
    StorageError,
    VendorRejected,
)
from app.observability import request_id_var

__all__ = ["install_problem_handlers", "problem_response"]

log = logging.getLogger("app.api")

_STATUS_BY_ERROR: tuple[tuple[type[AiTraderError], int], ...] = (
    (InputError, 422),
    (NotFoundError, 404),
    (OrderRejected, 409),
    (VendorRejected, 502),
    (RetryableError, 503),
    (StorageError, 503),
    (BusError, 503),
    (ConfigError, 500),
)


def problem_response(
    status: int, detail: str, *, title: str | None = None, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """Build a problem-details response carrying the current request id."""
    phrase = HTTPStatus(status).phrase
    body: dict[str, Any] = {
        "type": f"https://ai-trader.dev/problems/{phrase.lower().replace(' ', '-')}",
        "title": title or phrase,
        "status": status,
        "detail": detail,
    }
    request_id = request_id_var.get()
    if request_id is not None:
        body["request_id"] = request_id
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


_ABSOLUTE_PATH = re.compile(r"(?<![^\s'\"(=])/(?:[^\s'\"():/]+/)+([^\s'\"():/]*)")


def without_server_paths(text: str) -> str:
    """Replace each absolute file path in ``text`` by ``.../<its last part>``."""
    return _ABSOLUTE_PATH.sub(lambda m: f".../{m.group(1)}", text)


def public_detail(exc: AiTraderError, status: int) -> str:
    """What a client is told: no absolute server path, no URL credential, no setting of ours."""
    if isinstance(exc, ConfigError):
        return "the server is misconfigured; an operator finds the cause in the log under this request id"
    return mask_secrets_in(without_server_paths(str(exc)))


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of this path answers (a path may be served by several routes)."""
    methods: set[str] = set()
    from app.api.openapi import iter_routes

    for route in iter_routes(request.app.router.routes):
        match, _ = route.matches({**request.scope, "method": "__none__"})
        if match is not Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    return sorted(methods)


def status_for(exc: AiTraderError) -> int:
    for error_type, status in _STATUS_BY_ERROR:
        if isinstance(exc, error_type):
            return status
    return 500


def install_problem_handlers(app: FastAPI) -> None:
    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        return problem_response(exc.status_code, str(exc.detail), headers=headers or None)

    async def validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {
                "field": ".".join(str(p) for p in err["loc"] if p not in ("body", "query", "path")),
                "location": str(err["loc"][0]) if err["loc"] else "",
                "message": err["msg"],
            }
            for err in exc.errors()
        ]
        names = ", ".join(sorted({e["field"] for e in errors if e["field"]})) or "request"
        return problem_response(422, f"invalid value for: {names}", errors=errors)

    async def domain_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AiTraderError)
        status = status_for(exc)
        detail = public_detail(exc, status)
        if status >= 500:
            log.warning("request failed: %s", exc, extra={"error": type(exc).__name__})
        extra: dict[str, Any] = {}
        if isinstance(exc, OrderRejected):
            extra["reason"] = exc.reason
        return problem_response(status, detail, title=type(exc).__name__, **extra)

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(AiTraderError, domain_error)
