"""Settings -> component configs and clients: the only place that reads :class:`Settings` to build.

Every component takes a small frozen config (or plain values); this module maps the
platform's settings onto them. :class:`~app.bootstrap.container.Container` calls these once per
process; tests and benchmarks may call them directly to build one piece.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from app.config import Settings
from app.errors import ConfigError

if TYPE_CHECKING:
    from app.backtest.frames import BlobFrames
    from app.backtest.service import BacktestDeps
    from app.backtest.sweeps.runner import SweepDeps
    from app.bus.eventhubs.config import EventHubsConfig
    from app.bus.ports import Bus
    from app.bus.redis.config import RedisBusConfig
    from app.dal.http import HttpConfig
    from app.dal.ports import BarSource
    from app.dal.replay import ReplayVendor
    from app.dal.service import MarketData
    from app.domain.clock import Clock
    from app.execution.alpaca.config import AlpacaTradingConfig
    from app.execution.ports import Broker
    from app.execution.simulated import SimulatedBrokerConfig
    from app.risk.guard import GuardLimits
    from app.risk.sizing import RiskConfig
    from app.storage.blob import BlobStore
    from app.storage.db import Database

__all__ = [
    "build_alpaca_trading_config",
    "build_backtest_deps",
    "build_blob_frames",
    "build_blob_store",
    "build_broker",
    "build_bus",
    "build_container_apps_client",
    "build_database",
    "build_eventhubs_config",
    "build_frame_publisher",
    "build_guard_limits",
    "build_http_config",
    "build_market_data",
    "build_redis_bus_config",
    "build_replay_vendor",
    "build_risk_config",
    "build_router_risk_config",
    "build_simulated_broker_config",
    "build_sweep_deps",
    "build_vendor",
    "database_url",
    "scratch_settings",
]


# --- storage -----------------------------------------------------------------------------------


def database_url(settings: Settings) -> str:
    """``DATABASE_URL``, or the embedded SQLite file under ``DATA_DIR`` when it is unset."""
    from app.storage.db import sqlite_file_url

    if settings.DATABASE_URL is None:
        return sqlite_file_url(settings.sqlite_path).render_as_string(hide_password=False)
    return settings.DATABASE_URL.get_secret_value()


def build_database(settings: Settings) -> Database:
    """A :class:`Database` on :func:`database_url` (no connection is opened yet)."""
    from app.storage.db import Database

    return Database(database_url(settings))


def build_blob_store(settings: Settings) -> BlobStore:
    """The blob store ``settings.blob_backend`` resolved to (a local folder or Azure Blob)."""
    from app.storage.blob import BlobStore

    backend = settings.blob_backend
    if backend.kind == "local":
        return BlobStore.local(backend.target)
    conn = settings.AZURE_STORAGE_CONNECTION_STRING
    return BlobStore.azure(
        account_name=backend.target if conn is None else None,
        connection_string=None if conn is None else conn.get_secret_value(),
        use_cli_credential=settings.LOCAL_DEV,
    )


def build_blob_frames(
    settings: Settings, blob: BlobStore | Callable[[], BlobStore] | None = None
) -> BlobFrames:
    """Frames published to ``BLOB_CONTAINER_DATA``; the store is opened on first use unless given."""
    from app.backtest.frames import BlobFrames

    conn = settings.AZURE_STORAGE_CONNECTION_STRING
    secret = "" if conn is None else conn.get_secret_value()
    backend = settings.blob_backend
    return BlobFrames(
        blob if blob is not None else (lambda: build_blob_store(settings)),
        settings.BLOB_CONTAINER_DATA,
        timeout_s=settings.FRAMES_BLOB_TIMEOUT_S,
        identity=f"{backend.kind}:{backend.target}:{hashlib.sha256(secret.encode()).hexdigest()[:12]}",
    )


def build_frame_publisher(
    settings: Settings, blob: BlobStore | Callable[[], BlobStore] | None = None
) -> BlobFrames | None:
    """The :class:`BlobFrames` writers pass to ``write_frame``, or ``None`` when publishing is off."""
    from app.backtest.frames import frames_blob_enabled

    return build_blob_frames(settings, blob) if frames_blob_enabled(settings) else None


# --- market data -------------------------------------------------------------------------------


def build_http_config(settings: Settings, base_url: str) -> HttpConfig:
    """Timeouts and retries every vendor adapter shares (``DAL_HTTP_TIMEOUT_S`` ...)."""
    from app.dal.http import HttpConfig

    return HttpConfig(
        base_url=base_url.rstrip("/"),
        timeout_s=settings.DAL_HTTP_TIMEOUT_S,
        max_retries=settings.DAL_MAX_RETRIES,
        backoff_s=settings.DAL_RETRY_BACKOFF_S,
    )


def build_vendor(name: str, settings: Settings) -> BarSource:
    """The adapter called ``name``, configured from ``settings``; network adapters load on demand.

    Raises:
        InputError: ``name`` is not a known vendor.
    """
    from app.dal.registry import build_offline_vendor

    if name == "alpaca":
        from app.dal.alpaca import AlpacaConfig, AlpacaVendor

        return AlpacaVendor(
            AlpacaConfig(
                http=build_http_config(settings, settings.ALPACA_DATA_BASE_URL),
                api_key=settings.ALPACA_API_KEY,
                api_secret=settings.ALPACA_API_SECRET,
            )
        )
    if name == "alphavantage":
        from app.dal.alphavantage import AlphaVantageConfig, AlphaVantageVendor

        return AlphaVantageVendor(
            AlphaVantageConfig(
                http=build_http_config(settings, settings.ALPHAVANTAGE_BASE_URL),
                api_key=settings.ALPHAVANTAGE_API_KEY,
            )
        )
    if name == "yahoo":
        from app.dal.yahoo import YahooConfig, YahooVendor
        from app.dal.yahoo.config import BROWSER_USER_AGENT

        http = build_http_config(settings, settings.YAHOO_BASE_URL)
        return YahooVendor(YahooConfig(http=replace(http, headers={"User-Agent": BROWSER_USER_AGENT})))
    if name == "twelvedata":
        from app.dal.twelvedata import TwelveDataConfig, TwelveDataVendor

        return TwelveDataVendor(
            TwelveDataConfig(
                http=build_http_config(settings, settings.TWELVEDATA_BASE_URL),
                api_key=settings.TWELVEDATA_API_KEY,
            )
        )
    if name == "finnhub":
        from app.dal.finnhub import FinnhubConfig, FinnhubVendor

        return FinnhubVendor(
            FinnhubConfig(
                http=build_http_config(settings, settings.FINNHUB_BASE_URL),
                api_key=settings.FINNHUB_API_KEY,
            )
        )
    if name == "replay":
        return build_replay_vendor(settings)
    return build_offline_vendor(name, settings)


def build_replay_vendor(settings: Settings) -> ReplayVendor:
    """The ``replay`` vendor over ``REPLAY_DIR`` on the platform's clock (``REPLAY_CLOCK_FILE``).

    Raises:
        ConfigError: ``REPLAY_DIR`` is unset or not a directory, or the clock is misconfigured.
    """
    from app.dal.replay import ReplayVendor
    from app.domain.clock import build_clock

    root = settings.REPLAY_DIR
    if root is None:
        raise ConfigError("the replay vendor needs REPLAY_DIR (a directory of recorded bars)")
    if not root.is_dir():
        raise ConfigError(f"REPLAY_DIR {root} is not a directory")
    return ReplayVendor(root, build_clock(settings.REPLAY_CLOCK_FILE, broker=settings.BROKER))


def build_market_data(settings: Settings, blob: BlobStore | None = None) -> MarketData:
    """Market data whose cache lives in ``BLOB_CONTAINER_DATA`` of ``blob`` (or a new store)."""
    from app.dal.cache import BarCache
    from app.dal.service import MarketData

    store = blob if blob is not None else build_blob_store(settings)
    return MarketData(settings, BarCache(store, settings.BLOB_CONTAINER_DATA), vendor_factory=build_vendor)


# --- risk --------------------------------------------------------------------------------------


def build_risk_config(settings: Settings, **overrides: Any) -> RiskConfig:
    """Sizing from settings (per-position cap, regime multipliers) plus explicit ``overrides``."""
    from app.risk.sizing import DEFAULT_REGIME_MULTIPLIERS, RiskConfig, parse_regime_multipliers

    multipliers = dict(DEFAULT_REGIME_MULTIPLIERS)
    multipliers.update(parse_regime_multipliers(settings.RISK_REGIME_MULTIPLIERS))
    values: dict[str, Any] = {
        "max_position_fraction": settings.RISK_MAX_POSITION_FRACTION,
        "regime_multipliers": MappingProxyType(multipliers),
    }
    values.update(overrides)
    return RiskConfig(**values)


def build_router_risk_config(settings: Settings) -> RiskConfig:
    """Fractional Kelly, regime-aware: how the live router sizes by default."""
    return build_risk_config(settings, agent="fractional_kelly", regime_aware=True)


def build_guard_limits(settings: Settings) -> GuardLimits:
    """The kill switch's limits (``KILL_SWITCH_*``; unset means not enforced)."""
    from app.risk.governor import GovernorLimits
    from app.risk.guard import GuardLimits

    return GuardLimits(
        notional=settings.KILL_SWITCH_NOTIONAL,
        daily_loss=settings.KILL_SWITCH_DAILY_LOSS_LIMIT,
        max_open_orders=settings.KILL_SWITCH_MAX_OPEN_ORDERS,
        governor=GovernorLimits(
            max_symbol_weight=settings.RISK_MAX_SYMBOL_WEIGHT,
            max_gross_exposure=settings.RISK_MAX_GROSS_EXPOSURE,
            max_open_positions=settings.RISK_MAX_OPEN_POSITIONS,
            daily_loss=settings.RISK_DAILY_LOSS_LIMIT,
            max_drawdown=settings.RISK_MAX_DRAWDOWN,
        ),
        starting_equity=settings.RISK_ACCOUNT_EQUITY,
        reservation_ttl_s=settings.RISK_RESERVATION_TTL_S,
        max_book_age_s=settings.RISK_MAX_BOOK_AGE_S,
    )


# --- backtests and sweeps ----------------------------------------------------------------------


def build_backtest_deps(
    settings: Settings, *, market_data: MarketData | None = None, database: Database | None = None
) -> BacktestDeps:
    """What a backtest run needs; ``database`` records runs (required unless ``BACKTEST_NO_SAVE``)."""
    from app.backtest.service import BacktestDeps

    return BacktestDeps(
        market_data=market_data if market_data is not None else build_market_data(settings),
        risk_defaults=build_risk_config(settings),
        frames=build_frame_publisher(settings),
        database=None if settings.BACKTEST_NO_SAVE else database,
    )


def build_sweep_deps(settings: Settings, *, market_data: MarketData | None = None) -> SweepDeps:
    """What :func:`~app.backtest.sweeps.run_sweep` needs: bars through ``market_data`` (or a new one)."""
    from app.backtest.sweeps.runner import SweepDeps, dal_loader

    return SweepDeps(
        loader=dal_loader(market_data if market_data is not None else build_market_data(settings)),
        risk_defaults=build_risk_config(settings),
        frames=build_frame_publisher(settings),
    )


# --- bus ---------------------------------------------------------------------------------------


def build_redis_bus_config(settings: Settings) -> RedisBusConfig:
    """``BUS_URL=redis://...`` or ``REDIS_URL``; raises ConfigError when neither is set."""
    from app.bus.redis.config import RedisBusConfig

    if settings.BUS_URL is not None and settings.BUS_URL.startswith(("redis://", "rediss://")):
        return RedisBusConfig(url=settings.BUS_URL, lease_s=settings.BUS_LEASE_S)
    if settings.REDIS_URL is not None:
        return RedisBusConfig(url=settings.REDIS_URL, lease_s=settings.BUS_LEASE_S)
    raise ConfigError("the redis bus needs BUS_URL=redis://host:port/db or REDIS_URL")


def build_eventhubs_config(settings: Settings) -> EventHubsConfig:
    """Namespace, credentials and checkpoint store of the Event Hubs bus."""
    from urllib.parse import urlsplit

    from app.bus.eventhubs.config import EventHubsConfig, without_entity_path

    fqdn = settings.EH_FQDN
    if settings.BUS_URL is not None and settings.BUS_URL.startswith("eventhubs://"):
        fqdn = urlsplit(settings.BUS_URL).netloc or fqdn
    connection = settings.EH_CONNECTION_STRING.get_secret_value() if settings.EH_CONNECTION_STRING else None
    if not fqdn and not connection:
        raise ConfigError(
            "the eventhubs bus needs EH_FQDN (or BUS_URL=eventhubs://<fqdn>) or EH_CONNECTION_STRING"
        )
    storage = settings.AZURE_STORAGE_CONNECTION_STRING
    return EventHubsConfig(
        fully_qualified_namespace=fqdn if not connection else None,
        connection_string=without_entity_path(connection) if connection else None,
        use_cli_credential=settings.LOCAL_DEV,
        storage_account=settings.STORAGE_ACCOUNT or settings.blob_url_account,
        storage_connection_string=storage.get_secret_value() if storage else None,
        checkpoint_container=settings.CHECKPOINT_CONTAINER,
        allow_memory_checkpoints=settings.EH_ALLOW_MEMORY_CHECKPOINTS,
        ownership_s=settings.BUS_LEASE_S,
    )


def build_bus(settings: Settings, blob: BlobStore | None = None) -> Bus:
    """The bus ``settings.bus_backend`` resolved to (see ``ai-trader config show``).

    ``blob`` is the store Event Hubs keeps its checkpoints in (a new one when not given).

    Raises:
        ConfigError: the backend's settings are incomplete or its client library is missing.
    """
    from app.bus.factory import local_bus_path
    from app.bus.topology import topology

    hubs = topology(settings)
    kind = settings.bus_backend.kind
    if kind == "local":
        from app.bus.local import LocalBus, LocalBusConfig

        return LocalBus(LocalBusConfig(path=local_bus_path(settings), lease_s=settings.BUS_LEASE_S), hubs)
    if kind == "redis":
        from app.bus.redis import RedisBus

        return RedisBus(build_redis_bus_config(settings), hubs)
    if kind == "eventhubs":
        try:
            from app.bus.eventhubs import EventHubsBus
        except ImportError as exc:
            raise ConfigError(
                "the eventhubs bus needs the azure extra: pip install 'ai-trader[azure]'"
            ) from exc
        store = blob if blob is not None else build_blob_store(settings)
        return EventHubsBus(build_eventhubs_config(settings), hubs, store)
    raise ConfigError(f"unknown bus backend {kind!r}")


# --- execution ---------------------------------------------------------------------------------


def build_simulated_broker_config(settings: Settings) -> SimulatedBrokerConfig:
    from app.execution.simulated import SimulatedBrokerConfig

    return SimulatedBrokerConfig(
        slippage_bps=settings.SIM_SLIPPAGE_BPS,
        commission_bps=settings.SIM_COMMISSION_BPS,
        fee_per_order=settings.SIM_FEE_PER_ORDER,
        allow_short=settings.SIM_ALLOW_SHORT,
        initial_cash=settings.SIM_INITIAL_CASH,
    )


def build_alpaca_trading_config(settings: Settings) -> AlpacaTradingConfig:
    """Raises ConfigError naming the missing key when the Alpaca keys are not set."""
    from app.execution.alpaca.config import AlpacaTradingConfig

    key, secret = settings.ALPACA_API_KEY, settings.ALPACA_API_SECRET
    missing = [
        name
        for name, value in (("ALPACA_API_KEY", key), ("ALPACA_API_SECRET", secret))
        if value is None or not value.get_secret_value().strip()
    ]
    if missing or key is None or secret is None:
        raise ConfigError(f"BROKER=alpaca needs {' and '.join(missing)}")
    return AlpacaTradingConfig(
        api_key=key.get_secret_value().strip(),
        api_secret=secret.get_secret_value().strip(),
        paper=settings.ALPACA_PAPER,
        base_url=settings.ALPACA_TRADING_BASE_URL,
        stream_base_url=settings.ALPACA_STREAM_URL,
        account_cache_s=settings.ALPACA_ACCOUNT_CACHE_S,
    )


def build_broker(settings: Settings, db: Database | None = None, *, clock: Clock | None = None) -> Broker:
    """The broker ``settings.BROKER`` names.

    With ``db`` the simulated broker's paper account is stored in that database (every
    process sharing it sees one account); without, it lives in this process (unit tests).
    The simulated broker stamps its orders and fills with ``clock``, the platform's clock
    (by default the one the settings select: ``REPLAY_CLOCK_FILE`` or the wall clock), so a
    replayed day's fills carry the replayed time.

    Raises:
        ConfigError: the broker needs settings that are missing (Alpaca keys) or its SDK is
            not installed.
    """
    if settings.BROKER == "simulated":
        from app.domain.clock import build_clock
        from app.execution.simulated import SimulatedBroker

        config = build_simulated_broker_config(settings)
        platform_clock = clock or build_clock(settings.REPLAY_CLOCK_FILE, broker=settings.BROKER)
        if db is None:
            return SimulatedBroker(config, clock=platform_clock)
        from app.storage.repositories.simulated_account import SimulatedAccountRepository

        store = SimulatedAccountRepository(db, account=config.account, initial_cash=config.initial_cash)
        return SimulatedBroker(config, store=store, clock=platform_clock)
    from app.execution.alpaca.broker import AlpacaBroker

    return AlpacaBroker(build_alpaca_trading_config(settings))


# --- sweep dispatch ----------------------------------------------------------------------------


def build_container_apps_client(settings: Settings, subscription: str, **client_kwargs: Any) -> Any:
    """The Container Apps management client that starts sweep jobs in ``subscription``.

    Authenticates with ``DefaultAzureCredential`` (Azure CLI when ``LOCAL_DEV=1``) unless
    ``credential`` is passed; other ``client_kwargs`` go to ``ContainerAppsAPIClient``.
    """
    try:
        from azure.mgmt.appcontainers import ContainerAppsAPIClient
    except ImportError as exc:
        raise ConfigError(
            "SWEEP_JOB_RESOURCE_ID needs the azure extra: pip install 'ai-trader[azure]'"
        ) from exc
    credential = client_kwargs.pop("credential", None)
    if credential is None:
        from azure.identity import AzureCliCredential, DefaultAzureCredential

        credential = AzureCliCredential() if settings.LOCAL_DEV else DefaultAzureCredential()
    return ContainerAppsAPIClient(credential, subscription, **client_kwargs)


def scratch_settings(root: Path, **overrides: Any) -> Settings:
    """Embedded defaults rooted in ``root``, ignoring the environment's dotenv files.

    For tools that exercise code paths on throwaway data (the kernel precompile), never for
    the platform's own processes.
    """
    values: dict[str, Any] = {"DATA_DIR": root / "var", "ARTIFACTS_DIR": root / "artifacts", **overrides}
    return Settings(_env_file=None, **values)
