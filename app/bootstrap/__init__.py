"""The composition root: settings -> configs -> clients -> services, built once per process.

* :mod:`app.bootstrap.wiring` maps :class:`~app.config.Settings` onto each component's own
  config and builds single clients (``build_database``, ``build_bus``, ``build_market_data`` ...);
* :class:`~app.bootstrap.container.Container` holds one of each for a process and closes them.

Nothing below the edges (API, CLI, workers, dashboard) imports this package: components take
their configs and clients as arguments.
"""

from __future__ import annotations

from app.bootstrap import wiring
from app.bootstrap.container import Container, ReadinessCheck
from app.bootstrap.wiring import *  # noqa: F403  (the builders are this package's API)

__all__ = ["Container", "ReadinessCheck"]
__all__ += wiring.__all__
