"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI

import app as app_package
from app.api.auth import require_bearer
from app.api.middleware import BodyLimitMiddleware, RequestIdMiddleware
from app.api.openapi import install_openapi
from app.api.problems import install_problem_handlers
from app.api.routes import health
from app.bootstrap import Container
from app.config import Settings, load_settings
from app.errors import AiTraderError

__all__ = ["create_app", "migrate_until_done"]

log = logging.getLogger("app.api")

MIGRATE_RETRY_MAX_S = 30.0
MIGRATE_FIRST_WAIT_S = 2.0
"""How long start-up waits for the first migration before serving without it."""


def migrate_until_done(services: Container, stop: threading.Event, *, first_wait_s: float = 1.0) -> bool:
    """Apply migrations, retrying with growing pauses until they succeed or ``stop`` is set.

    The API serves (``/health/live`` 200, ``/health/ready`` 503 naming the database) while
    the database is unreachable, and takes it into use as soon as this succeeds. Returns
    whether the schema is current."""
    wait_s = first_wait_s
    attempt = 0
    while not stop.is_set():
        attempt += 1
        try:
            services.db.upgrade()
        except AiTraderError as exc:
            log.warning(
                "database not ready, migrations retried in %.0f s (attempt %d): %s",
                wait_s,
                attempt,
                exc,
                extra={"attempt": attempt},
            )
            stop.wait(wait_s)
            wait_s = min(MIGRATE_RETRY_MAX_S, wait_s * 2)
            continue
        if attempt > 1:
            log.info("database reachable; migrations applied after %d attempts", attempt)
        return True
    return False


def create_app(
    settings: Settings | None = None, container: Container | None = None, *, migrate: bool = False
) -> FastAPI:
    """Build the API around ``container`` (or a new one from ``settings`` / the environment).

    The app owns the container: routes take their clients from it through ``app/api/deps.py``
    and the lifespan closes every client it built (the database pool, the bus, the broker the
    router opened ...). ``migrate`` applies database migrations in the background once the API
    serves, retrying while the database is down, so liveness never depends on the database;
    they run at start-up only, never per request."""
    if container is None:
        container = Container(settings if settings is not None else load_settings())
    services = container

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        migrator = None
        if migrate:
            migrator = threading.Thread(
                target=migrate_until_done, args=(services, stop), name="migrate", daemon=True
            )
            migrator.start()
            # the usual case (database up) finishes here, before the first request is served
            await asyncio.to_thread(migrator.join, MIGRATE_FIRST_WAIT_S)
        yield
        stop.set()
        if migrator is not None:
            migrator.join(timeout=10)
        container.close()

    api = FastAPI(
        title="ai-trader",
        version=app_package.__version__,
        summary="Market data, backtests, sweeps, the order router and order history.",
        lifespan=lifespan,
    )
    api.state.container = container
    _register_readiness(container)
    install_problem_handlers(api)
    api.add_middleware(BodyLimitMiddleware, max_bytes=services.settings.API_MAX_BODY_BYTES)
    api.add_middleware(RequestIdMiddleware)

    protected = [Depends(require_bearer)]
    api.include_router(health.router)
    for router in _feature_routers():
        api.include_router(router, dependencies=protected)
    install_openapi(api)
    return api


def _feature_routers() -> list[APIRouter]:
    """Routers behind bearer auth; each feature adds its own module here."""
    from app.api.routes import backtests, order_actions, orders, portfolio, risk, router, status, sweeps

    return [
        risk.router,
        risk.governor_router,
        router.router,
        orders.router,
        order_actions.router,
        status.router,
        portfolio.router,
        sweeps.router,
        backtests.router,
    ]


def _register_readiness(services: Container) -> None:
    """Readiness checks of features that run beside the API (consumer lag ...)."""
    from app.workers.order_consumer import register_readiness as order_consumer_readiness
    from app.workers.venue_updates import register_readiness as venue_updates_readiness

    order_consumer_readiness(services)
    venue_updates_readiness(services)
