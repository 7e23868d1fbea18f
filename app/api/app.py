"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI

import app as app_package
from app.api.auth import require_bearer
from app.api.middleware import BodyLimitMiddleware, RequestIdMiddleware
from app.api.openapi import install_openapi
from app.api.problems import install_problem_handlers
from app.api.routes import health
from app.config import Settings, load_settings
from app.services.container import Services

__all__ = ["create_app"]


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    """Build the API around ``services`` (or new ones from ``settings`` / the environment)."""
    if services is None:
        services = Services(settings if settings is not None else load_settings())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        services.close()

    api = FastAPI(
        title="ai-trader",
        version=app_package.__version__,
        summary="Market data, backtests, sweeps, the order router and order history.",
        lifespan=lifespan,
    )
    api.state.services = services
    _register_readiness(services)
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
    from app.api.routes import backtests, orders, risk, router, sweeps

    return [risk.router, router.router, orders.router, sweeps.router, backtests.router]


def _register_readiness(services: Services) -> None:
    """Readiness checks of features that run beside the API (consumer lag ...)."""
    from app.workers.order_consumer import register_readiness as order_consumer_readiness

    order_consumer_readiness(services)
