"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI

import app as app_package
from app.api.auth import require_bearer
from app.api.middleware import RequestIdMiddleware
from app.api.problems import install_problem_handlers
from app.api.routes import health
from app.bootstrap import Container
from app.config import Settings, load_settings

__all__ = ["create_app"]


def create_app(settings: Settings | None = None, container: Container | None = None) -> FastAPI:
    """Build the API around ``container`` (or a new one from ``settings`` / the environment).

    The app owns the container: its lifespan closes every client the container built (the
    database pool, the bus, the broker the router opened ...). Migrations are not run here:
    ``ai-trader api`` (and ``ai-trader up``) apply them before serving, never per request.
    """
    if container is None:
        container = Container(settings if settings is not None else load_settings())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
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
    api.add_middleware(RequestIdMiddleware)

    protected = [Depends(require_bearer)]
    api.include_router(health.router)
    for router in _feature_routers():
        api.include_router(router, dependencies=protected)
    return api


def _feature_routers() -> list[APIRouter]:
    """Routers behind bearer auth; each feature adds its own module here."""
    from app.api.routes import backtests, orders, risk, router, sweeps

    return [risk.router, router.router, orders.router, sweeps.router, backtests.router]


def _register_readiness(container: Container) -> None:
    """Readiness checks of features that run beside the API (consumer lag ...)."""
    from app.workers.order_consumer import register_readiness as order_consumer_readiness

    order_consumer_readiness(container)
