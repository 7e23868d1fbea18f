"""ASGI middleware: a request id on every request, response and log line; an access log;
one problem-details 500 for an unexpected error; a request body limit.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from http import HTTPStatus

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability import request_id_var

__all__ = ["BodyLimitMiddleware", "RequestIdMiddleware", "problem_body"]

log = logging.getLogger("app.api.access")
error_log = logging.getLogger("app.api")


def problem_body(status: int, detail: str, request_id: str | None) -> bytes:
    """An RFC 9457 problem body (the same shape :func:`app.api.problems.problem_response` builds)."""
    phrase = HTTPStatus(status).phrase
    body: dict[str, object] = {
        "type": f"https://ai-trader.dev/problems/{phrase.lower().replace(' ', '-')}",
        "title": phrase,
        "status": status,
        "detail": detail,
    }
    if request_id is not None:
        body["request_id"] = request_id
    return json.dumps(body).encode("utf-8")


async def _send_problem(send: Send, status: int, detail: str, request_id: str | None) -> None:
    payload = problem_body(status, detail, request_id)
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(payload)).encode("ascii")),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload, "more_body": False})


class RequestIdMiddleware:
    """Take ``X-Request-ID`` from the request (or make one) and echo it on every response.

    An exception no handler turned into a response becomes here a 500 problem whose body and
    ``X-Request-ID`` header carry the request id; its traceback is logged once, with the id, and
    the exception is not re-raised, so the server keeps the connection alive.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        ok = 0 < len(incoming) <= 128 and incoming.isascii() and incoming.isprintable()
        request_id = incoming if ok else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                message["headers"] = [*headers, (b"x-request-id", request_id.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            error_log.exception("unhandled error", extra={"request_id": request_id})
            if not response_started:
                await _send_problem(
                    send_with_id, 500, "internal error; see the server log for this request id", request_id
                )
        finally:
            log.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "client": (scope.get("client") or ("", 0))[0],
                },
            )
            request_id_var.reset(token)


class BodyLimitMiddleware:
    """Answer 413 to a request whose body exceeds ``max_bytes``, declared or chunked.

    A declared ``Content-Length`` above the limit is refused before reading; otherwise the body
    is read (counting bytes, never more than the limit plus one chunk) and replayed to the app.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = f"request body is larger than {self.max_bytes} bytes (API_MAX_BODY_BYTES)"
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                declared_size = int(declared)
            except ValueError:
                await _send_problem(send, 400, "Content-Length is not a number", request_id_var.get())
                return
            if declared_size > self.max_bytes:
                await _send_problem(send, 413, too_large, request_id_var.get())
                return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                messages.append(message)
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await _send_problem(send, 413, too_large, request_id_var.get())
                return
            messages.append(message)
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            if messages:
                return messages.pop(0)
            return await receive()

        await self.app(scope, replay, send)
