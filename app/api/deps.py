"""FastAPI dependencies: what a route may take from the process's :class:`~app.bootstrap.Container`.

Routes declare what they use (``db: DatabaseDep``, ``router: RouterServiceDep`` ...) and
never reach into ``request.app.state`` themselves; :func:`~app.api.app.create_app` puts the
container there once, and these dependencies are the only readers.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.backtest.service import BacktestDeps
from app.backtest.sweeps.jobs import SweepJobService
from app.bootstrap import Container
from app.bus.ports import Bus
from app.config import Settings
from app.router.service import RouterService
from app.storage.db import Database
from app.storage.repositories.kill_switch import KillSwitchRepository
from app.storage.repositories.orders import OrdersRepository

__all__ = [
    "BacktestDepsDep",
    "BusDep",
    "ContainerDep",
    "DatabaseDep",
    "KillSwitchDep",
    "OrderServiceDep",
    "RouterServiceDep",
    "SettingsDep",
    "SweepJobServiceDep",
    "get_container",
]


def get_container(request: Request) -> Container:
    """The container :func:`~app.api.app.create_app` built (or was given) for this app."""
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


def _settings(container: ContainerDep) -> Settings:
    return container.settings


def _database(container: ContainerDep) -> Database:
    return container.db


def _bus(container: ContainerDep) -> Bus:
    return container.bus


def _router(container: ContainerDep) -> RouterService:
    return container.router


def _orders(container: ContainerDep) -> OrdersRepository:
    return container.orders


def _kill_switch(container: ContainerDep) -> KillSwitchRepository:
    return container.kill_switch


def _sweep_jobs(container: ContainerDep) -> SweepJobService:
    return container.sweep_jobs


def _backtest(container: ContainerDep) -> BacktestDeps:
    return container.backtest_deps


SettingsDep = Annotated[Settings, Depends(_settings)]
DatabaseDep = Annotated[Database, Depends(_database)]
BusDep = Annotated[Bus, Depends(_bus)]
RouterServiceDep = Annotated[RouterService, Depends(_router)]
OrderServiceDep = Annotated[OrdersRepository, Depends(_orders)]
KillSwitchDep = Annotated[KillSwitchRepository, Depends(_kill_switch)]
SweepJobServiceDep = Annotated[SweepJobService, Depends(_sweep_jobs)]
BacktestDepsDep = Annotated[BacktestDeps, Depends(_backtest)]
