"""Health probes (Front Door uses ``GET /health/live``) and the API index."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel

import app as app_package
from app.api.deps import ContainerDep, SettingsDep
from app.bootstrap import ReadinessCheck
from app.config import Settings

router = APIRouter(tags=["health"])


class IndexLinks(BaseModel):
    docs: str
    openapi: str
    live: str
    ready: str
    ui: str


class IndexOut(BaseModel):
    """``GET /``: what this service is and where to go next."""

    name: str
    version: str
    links: IndexLinks


class LiveOut(BaseModel):
    status: Literal["ok"]


class CheckOut(BaseModel):
    status: Literal["ok", "error"]
    reason: str | None
    latency_ms: float


class ReadyOut(BaseModel):
    """``GET /health/ready``: each dependency's check; ``failing`` names those not answering."""

    status: Literal["ok", "unavailable"]
    failing: list[str]
    checks: dict[str, CheckOut]


@router.get("/", response_model=IndexOut)
async def index(request: Request, settings: SettingsDep) -> IndexOut:
    """Name, version and links to the API's main entry points."""
    base = str(request.base_url).rstrip("/")
    return IndexOut(
        name="ai-trader",
        version=app_package.__version__,
        links=IndexLinks(
            docs=f"{base}/docs",
            openapi=f"{base}/openapi.json",
            live=f"{base}/health/live",
            ready=f"{base}/health/ready",
            ui=_ui_url(request, settings),
        ),
    )


def _ui_url(request: Request, settings: Settings) -> str:
    configured = settings.UI_BASE_URL
    if configured:
        return str(configured)
    return f"{request.url.scheme}://{request.url.hostname or '127.0.0.1'}:{settings.UI_PORT}/ui/"


@router.get("/ui", include_in_schema=False)
@router.get("/ui/{rest:path}", include_in_schema=False)
async def ui_redirect(request: Request, settings: SettingsDep) -> RedirectResponse:
    """The dashboard is its own server (Front Door routes ``/ui`` to it); sent here, redirect."""
    return RedirectResponse(_ui_url(request, settings), status_code=307)


@router.get("/health/live", response_model=LiveOut)
async def live() -> LiveOut:
    """200 while the process serves requests; touches no dependency."""
    return LiveOut(status="ok")


async def _run_check(name: str, check: ReadinessCheck, timeout_s: float) -> dict[str, Any]:
    started = time.perf_counter()
    reason: str | None = None
    try:
        await asyncio.wait_for(asyncio.to_thread(check), timeout=timeout_s)
    except TimeoutError:
        status, reason = "error", f"no answer within {timeout_s:g} s"
    except Exception as exc:
        status, reason = "error", f"{type(exc).__name__}: {exc}"
    else:
        status = "ok"
    return {
        "name": name,
        "status": status,
        "reason": reason,
        "latency_ms": round((time.perf_counter() - started) * 1000, 1),
    }


@router.get("/health/ready", response_model=ReadyOut, responses={503: {"model": ReadyOut}})
async def ready(container: ContainerDep) -> JSONResponse:
    """200 when every dependency answers; 503 naming each failing one and why."""
    timeout_s = container.settings.READY_CHECK_TIMEOUT_S
    results = await asyncio.gather(
        *(_run_check(name, check, timeout_s) for name, check in container.readiness_checks().items())
    )
    failing = [r["name"] for r in results if r["status"] != "ok"]
    body = {
        "status": "ok" if not failing else "unavailable",
        "failing": failing,
        "checks": {r["name"]: {k: v for k, v in r.items() if k != "name"} for r in results},
    }
    return JSONResponse(
        ReadyOut.model_validate(body).model_dump(mode="json"), status_code=200 if not failing else 503
    )
