"""The composition root: settings -> configs -> clients -> services, built once per process.

* :mod:`app.bootstrap.wiring` maps :class:`~app.config.Settings` onto each component's own
  config and builds single clients (``build_database``, ``build_bus``, ``build_market_data`` ...);
* :class:`~app.bootstrap.container.Container` holds one of each for a process and closes them.

Nothing below the edges (API, CLI, workers, dashboard) imports this package: components take
their configs and clients as arguments.
"""

from __future__ import annotations

from app.bootstrap.container import Container, ReadinessCheck
from app.bootstrap.wiring import (
    build_alpaca_trading_config,
    build_backtest_deps,
    build_blob_frames,
    build_blob_store,
    build_broker,
    build_bus,
    build_container_apps_client,
    build_database,
    build_eventhubs_config,
    build_frame_publisher,
    build_guard_limits,
    build_http_config,
    build_market_data,
    build_redis_bus_config,
    build_risk_config,
    build_router_risk_config,
    build_simulated_broker_config,
    build_sweep_deps,
    build_vendor,
    database_url,
    scratch_settings,
)

__all__ = [
    "Container",
    "ReadinessCheck",
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
    "build_risk_config",
    "build_router_risk_config",
    "build_simulated_broker_config",
    "build_sweep_deps",
    "build_vendor",
    "database_url",
    "scratch_settings",
]
