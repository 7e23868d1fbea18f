"""``POST /router/run``: one pass of the order router graph."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import RouterServiceDep
from app.router.schemas import RouterRunRequest, RouterRunResult

__all__ = ["router"]

router = APIRouter(prefix="/router", tags=["router"])


@router.post("/run", response_model=RouterRunResult)
def run(payload: RouterRunRequest, service: RouterServiceDep) -> RouterRunResult:
    """Ingest bars, decide, size the order, guard it, publish and execute it.

    ``offline_mode=false`` orders the newest completed bar's target minus what the account's
    book holds; ``offline_mode=true`` is a drill on synthetic bars acting on the strategy's last
    position change. A refusal is not an error: the response says ``fallback_reason``
    (``kill_switch_*``, ``stale_data``, ``book_unavailable``, ...) and nothing was published or
    executed. Bad input is a 422 naming the field. The service
    (and the broker it opens) is the process's own, built once by the container.
    """
    return service.run(payload)
