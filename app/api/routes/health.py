"""Health probes (Front Door uses ``GET /health/live``) and the API index."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, Field

import app as app_package
from app.api.auth import configured_token, token_is_valid
from app.api.deps import ContainerDep, SettingsDep
from app.bootstrap import ReadinessCheck
from app.config import Settings, mask_secrets_in

router = APIRouter(tags=["health"])


class CheckView(BaseModel):
    status: str
    reason: str | None = Field(default=None, description="Only with the bearer token (or auth off).")
    latency_ms: float | None = Field(default=None, description="Only with the bearer token (or auth off).")


class ReadyView(BaseModel):
    status: str
    failing: list[str]
    checks: dict[str, CheckView]


class IndexLinks(BaseModel):
    docs: str
    openapi: str
    live: str
    ready: str
    ui: str


class IndexView(BaseModel):
    """``GET /``: what this service is and where to go next."""

    name: str
    version: str
    links: IndexLinks


class LiveView(BaseModel):
    status: str


log = logging.getLogger("app.api.health")
_WILDCARD_HOSTS = ("0.0.0.0", "::", "")


@router.get("/", response_model=IndexView)
async def index(settings: SettingsDep) -> dict[str, Any]:
    """Name, version and links to the API's main entry points.

    Links are built from ``API_BASE_URL`` when set, else they are relative: never from the
    request's ``Host`` header, which a client chooses.
    """
    base = (settings.API_BASE_URL or "").rstrip("/")
    return {
        "name": "ai-trader",
        "version": app_package.__version__,
        "links": {
            "docs": f"{base}/docs",
            "openapi": f"{base}/openapi.json",
            "live": f"{base}/health/live",
            "ready": f"{base}/health/ready",
            "ui": _ui_url(settings),
        },
    }


def _ui_url(settings: Settings) -> str:
    """``UI_BASE_URL``, else the dashboard beside this API (its bind host, loopback if wildcard)."""
    if settings.UI_BASE_URL:
        return str(settings.UI_BASE_URL)
    host = settings.API_HOST if settings.API_HOST not in _WILDCARD_HOSTS else "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.UI_PORT}/ui/"


@router.get("/ui", include_in_schema=False)
@router.get("/ui/{rest:path}", include_in_schema=False)
async def ui_redirect(settings: SettingsDep) -> RedirectResponse:
    """The dashboard is its own server (Front Door routes ``/ui`` to it); sent here, redirect."""
    return RedirectResponse(_ui_url(settings), status_code=307)


@router.get("/health/live", response_model=LiveView)
async def live() -> dict[str, str]:
    """200 while the process serves requests; touches no dependency."""
    return {"status": "ok"}


async def _run_check(name: str, check: ReadinessCheck, timeout_s: float) -> dict[str, Any]:
    started = time.perf_counter()
    reason: str | None = None
    try:
        await asyncio.wait_for(asyncio.to_thread(check), timeout=timeout_s)
    except TimeoutError:
        status, reason = "error", f"no answer within {timeout_s:g} s"
    except Exception as exc:
        status, reason = "error", mask_secrets_in(f"{type(exc).__name__}: {exc}")
    else:
        status = "ok"
    return {
        "name": name,
        "status": status,
        "reason": reason,
        "latency_ms": round((time.perf_counter() - started) * 1000, 1),
    }


@router.get(
    "/health/ready",
    responses={
        200: {"model": ReadyView, "description": "Every dependency answers."},
        503: {"model": ReadyView, "description": "Some dependency does not answer (`failing` names it)."},
    },
)
async def ready(request: Request, services: ContainerDep) -> JSONResponse:
    """200 when every dependency answers; 503 naming each failing one.

    The public answer names each dependency and its state only; the reason and latency are
    added for a caller with the bearer token (or when auth is off) and always logged.
    """
    timeout_s = services.settings.READY_CHECK_TIMEOUT_S
    results = await asyncio.gather(
        *(_run_check(name, check, timeout_s) for name, check in services.readiness_checks().items())
    )
    failing = [r["name"] for r in results if r["status"] != "ok"]
    for result in results:
        if result["status"] != "ok":
            log.warning("readiness check %s failing: %s", result["name"], result["reason"])
    detailed = configured_token(request) is None or token_is_valid(request)
    checks = {
        r["name"]: {k: v for k, v in r.items() if k != "name"} if detailed else {"status": r["status"]}
        for r in results
    }
    body = {"status": "ok" if not failing else "unavailable", "failing": failing, "checks": checks}
    return JSONResponse(body, status_code=200 if not failing else 503)
