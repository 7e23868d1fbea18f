"""``POST /router/run``: one pass of the order router graph."""

from __future__ import annotations

import threading

from fastapi import APIRouter, Request

from app.router.schemas import RouterRunRequest, RouterRunResult
from app.router.service import RouterService

__all__ = ["router"]

router = APIRouter(prefix="/router", tags=["router"])
_lock = threading.Lock()


def _service(request: Request) -> RouterService:
    state = request.app.state
    service: RouterService | None = getattr(state, "router_service", None)
    if service is None:
        with _lock:
            service = getattr(state, "router_service", None)
            if service is None:
                service = RouterService(state.services)
                state.router_service = service
    return service


@router.post("/run")
def run(payload: RouterRunRequest, request: Request) -> RouterRunResult:
    """Ingest bars, size the strategy's latest position change, guard it, publish and execute it.

    A tripped guard is not an error: the response says ``fallback_reason`` (``kill_switch_*``)
    and nothing was published or executed. Bad input is a 422 naming the field.
    """
    return _service(request).run(payload)
