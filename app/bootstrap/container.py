"""The composition root: one :class:`Container` per process builds and closes every client.

Edges (the API, the CLI, the workers, the dashboard) build one container from the settings
(:func:`~app.config.load_settings`) and take what they need from it. Each component is built
lazily, on first use, exactly once (even when threads ask for it at the same time), and
:meth:`Container.close` closes everything that was built, newest first.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar, overload

from app.bootstrap import wiring
from app.config import Settings

if TYPE_CHECKING:
    from app.backtest.frames import BlobFrames
    from app.backtest.service import BacktestDeps
    from app.backtest.sweeps.jobs import SweepJobService
    from app.backtest.sweeps.runner import SweepDeps
    from app.bus.ports import Bus
    from app.dal.service import MarketData
    from app.domain.clock import Clock
    from app.execution.ports import Broker
    from app.models.selection import PriorModels
    from app.risk.guard import GuardLimits, OrderGuard
    from app.risk.sizing import RiskConfig
    from app.router.service import RouterService
    from app.storage.blob import BlobStore
    from app.storage.db import Database
    from app.storage.repositories.kill_switch import KillSwitchRepository
    from app.storage.repositories.orders import OrdersRepository

__all__ = ["Container", "ReadinessCheck"]

log = logging.getLogger("app.bootstrap")

ReadinessCheck = Callable[[], None]
"""A callable that returns when a dependency answers and raises (with the reason) when not."""

T = TypeVar("T")


class _Component(Generic[T]):
    """A lazily built, process-wide member of the container (built once under its lock).

    ``closer`` names how the built value is released (``close`` or ``dispose``); ``None``
    means it holds nothing to release. A build that raises leaves nothing cached, so the
    next caller tries again (a broker whose keys are missing fails each run, not the process).
    """

    def __init__(self, build: Callable[[Container], T], closer: str | None = None) -> None:
        self.build = build
        self.closer = closer
        self.name = build.__name__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type) -> Self: ...

    @overload
    def __get__(self, instance: Container, owner: type) -> T: ...

    def __get__(self, instance: Container | None, owner: type) -> T | Self:
        if instance is None:
            return self
        return instance._get(self)


def component(closer: str | None = None) -> Callable[[Callable[[Container], T]], _Component[T]]:
    def wrap(build: Callable[[Container], T]) -> _Component[T]:
        return _Component(build, closer)

    return wrap


class Container:
    """Long-lived clients and services for one process.

    Use it as a context manager (or call :meth:`close`) so every client built is closed::

        with Container(load_settings()) as container:
            container.db.upgrade()
            container.router.run(request)
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.RLock()
        self._built: dict[str, Any] = {}
        self._order: list[_Component[Any]] = []
        self._extra_checks: dict[str, ReadinessCheck] = {}

    # --- bookkeeping ------------------------------------------------------------------------
    def _get(self, member: _Component[T]) -> T:
        try:
            value: T = self._built[member.name]
        except KeyError:
            pass
        else:
            return value
        with self._lock:
            if member.name in self._built:
                return self._built[member.name]  # type: ignore[no-any-return]
            built = member.build(self)
            self._built[member.name] = built
            self._order.append(member)
            return built

    def built(self) -> tuple[str, ...]:
        """Names of the components built so far, oldest first."""
        with self._lock:
            return tuple(m.name for m in self._order)

    # --- clients ----------------------------------------------------------------------------
    @component(closer="dispose")
    def db(self) -> Database:
        """The database (migrations are run by ``ai-trader db upgrade``/``up`` and API start-up)."""
        return wiring.build_database(self.settings)

    @component()
    def blob(self) -> BlobStore:
        return wiring.build_blob_store(self.settings)

    @component(closer="close")
    def bus(self) -> Bus:
        """The configured event bus (local log, Redis Streams or Event Hubs)."""
        if self.settings.bus_backend.kind == "eventhubs":
            return wiring.build_bus(self.settings, self.blob)
        return wiring.build_bus(self.settings)

    @component()
    def clock(self) -> Clock:
        """The platform's clock: the wall clock, or the replayed one ``REPLAY_CLOCK_FILE`` names
        (only with the simulated broker)."""
        from app.domain.clock import build_clock

        return build_clock(self.settings.REPLAY_CLOCK_FILE, broker=self.settings.BROKER)

    @component(closer="close")
    def broker(self) -> Broker:
        """The configured broker; the simulated one keeps its paper account in :attr:`db` and
        stamps its fills with :attr:`clock`."""
        if self.settings.BROKER == "simulated":
            return wiring.build_broker(self.settings, self.db, clock=self.clock)
        return wiring.build_broker(self.settings)

    @component(closer="close")
    def market_data(self) -> MarketData:
        """Market data with its bar cache in the process's blob store."""
        return wiring.build_market_data(self.settings, self.blob)

    @component()
    def blob_frames(self) -> BlobFrames:
        """Frames in the blob store's data container (the store is opened on first use)."""
        return wiring.build_blob_frames(self.settings, lambda: self.blob)

    @component()
    def frame_publisher(self) -> BlobFrames | None:
        """Where frames are published besides ``frames_dir`` (``None``: not published)."""
        from app.backtest.frames import frames_blob_enabled

        return self.blob_frames if frames_blob_enabled(self.settings) else None

    # --- risk -------------------------------------------------------------------------------
    @component()
    def risk_defaults(self) -> RiskConfig:
        """Sizing defaults from settings; callers ``replace`` the per-run choices."""
        return wiring.build_risk_config(self.settings)

    @component()
    def router_risk(self) -> RiskConfig:
        """How the live router (and the scheduler's warm-up) sizes: fractional Kelly, regime-aware."""
        return wiring.build_router_risk_config(self.settings)

    @component()
    def guard_limits(self) -> GuardLimits:
        return wiring.build_guard_limits(self.settings)

    @component()
    def guard(self) -> OrderGuard:
        from app.risk.guard import OrderGuard
        from app.storage.repositories.guard import GuardRepository

        settings = self.settings

        def book_age() -> float | None:
            # the order consumer's lag, from the status it writes to the blob store
            from app.bus.consumer_lag import order_book_age

            hub, group = settings.EH_HUB_ORDERS, settings.EH_CONSUMER_GROUP
            return order_book_age(self.blob, settings.BLOB_CONTAINER_DATA, hub, group)

        limits = self.guard_limits
        return OrderGuard(
            GuardRepository(self.db),
            limits,
            book_age=book_age if limits.max_book_age_s is not None else None,
            clock=self.clock,
        )

    @component()
    def kill_switch(self) -> KillSwitchRepository:
        from app.storage.repositories.kill_switch import KillSwitchRepository

        return KillSwitchRepository(self.db)

    # --- services ---------------------------------------------------------------------------
    @component()
    def orders(self) -> OrdersRepository:
        from app.execution.factory import broker_label
        from app.storage.repositories.orders import OrdersRepository

        return OrdersRepository(self.db, account=broker_label(self.settings))

    @component()
    def sweep_jobs(self) -> SweepJobService:
        """The sweep job registry; it publishes new jobs on :attr:`bus`."""
        from app.backtest.sweeps.jobs import SweepJobService

        return SweepJobService(self.settings, self.db, self.blob, self.bus)

    @component(closer="close")
    def router(self) -> RouterService:
        """The order router (graph compiled now; bus and broker opened by the first run needing them)."""
        from app.execution.factory import broker_label
        from app.models.params import champion_parameters
        from app.router.offline import OfflineBars
        from app.router.run_records import record_run
        from app.router.service import RouterService
        from app.router.state import RouterContext
        from app.storage.repositories.router_book import RouterBookRepository

        context = RouterContext(
            settings=self.settings,
            market_data=self.market_data,
            offline_bars=OfflineBars(self.market_data, max_bytes=self.settings.ROUTER_BAR_CACHE_BYTES),
            guard=self.guard,
            risk=self.router_risk,
            bus=lambda: self.bus,
            broker=lambda: self.broker,
            prior_models=self.prior_models,
            champion_params=lambda strategy: champion_parameters(
                self.blob, strategy, self.settings.BLOB_CONTAINER_MODELS
            ),
            book=RouterBookRepository(self.db),
            account=broker_label(self.settings),
            clock=self.clock,
        )
        container = self.settings.BLOB_CONTAINER_DATA
        return RouterService(
            context,
            max_bars=self.settings.ROUTER_MAX_BARS,
            record=lambda result: record_run(self.blob, container, result),
        )

    @component()
    def prior_models(self) -> PriorModels:
        """``--prior-model`` resolution through the model registry (blob opened on first use)."""
        from app.models.registry import ModelRegistry
        from app.models.selection import PriorModels

        return PriorModels(lambda: ModelRegistry(self.blob, self.settings.BLOB_CONTAINER_MODELS))

    @component()
    def backtest_deps(self) -> BacktestDeps:
        """What one backtest run needs; runs are recorded through :attr:`db` when saving is on."""
        from app.backtest.service import BacktestDeps

        return BacktestDeps(
            market_data=self.market_data,
            risk_defaults=self.risk_defaults,
            frames=self.frame_publisher,
            database=None if self.settings.BACKTEST_NO_SAVE else self.db,
            prior_models=self.prior_models,
        )

    @component()
    def sweep_deps(self) -> SweepDeps:
        """What :func:`~app.backtest.sweeps.run_sweep` needs (bars through :attr:`market_data`)."""
        from app.backtest.sweeps.runner import SweepDeps, dal_loader

        return SweepDeps(
            loader=dal_loader(self.market_data),
            risk_defaults=self.risk_defaults,
            frames=self.frame_publisher,
            prior_models=self.prior_models,
        )

    # --- readiness --------------------------------------------------------------------------
    def add_readiness_check(self, name: str, check: ReadinessCheck) -> None:
        """Register another dependency for ``/health/ready`` (the bus, a consumer's lag ...)."""
        self._extra_checks[name] = check

    def readiness_checks(self) -> dict[str, ReadinessCheck]:
        checks: dict[str, ReadinessCheck] = {
            "database": lambda: self.db.check_ready(),
            "blob": lambda: self.blob.ping(self.settings.BLOB_CONTAINER_DATA),
            "bus": lambda: self.bus.ping(),
        }
        checks.update(self._extra_checks)
        return checks

    # --- lifetime ---------------------------------------------------------------------------
    def close(self) -> None:
        """Close every client built so far, newest first; safe to call more than once.

        A component asked for after ``close`` is built anew (and closed by the next ``close``),
        so a test may still read the database an app's lifespan has closed.
        """
        with self._lock:
            members = list(reversed(self._order))
            self._order.clear()
            built = self._built
            self._built = {}
        for member in members:
            if member.closer is None:
                continue
            try:
                getattr(built[member.name], member.closer)()
            except Exception:  # one failing close must not keep the others open
                log.exception("closing %s failed", member.name)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
