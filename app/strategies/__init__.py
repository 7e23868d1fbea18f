"""Strategies: one interface shared by backtests, sweeps and the live router.

Build one with :func:`get_strategy`::

    strategy = get_strategy("sma_cross", {"fast": 10, "slow": 20})
    target = strategy.target_positions(bars, signals, regimes)  # float64, -1/0/+1 per bar

Every module of this package other than ``base``, ``kernels`` and ``registry`` is a strategy
file, imported here so that its ``@register_strategy`` class is known by name: adding a
strategy is adding one file.
"""

from __future__ import annotations

import importlib
import pkgutil

from app.strategies.base import BarArrays, BatchInputs, BatchKernel, Strategy
from app.strategies.breakout import Breakout
from app.strategies.mean_reversion import MeanReversion
from app.strategies.momentum import Momentum
from app.strategies.registry import (
    STRATEGIES,
    get_strategy,
    register_strategy,
    strategy_class,
    unregister_strategy,
)
from app.strategies.sma_cross import SmaCross

__all__ = [
    "STRATEGIES",
    "BarArrays",
    "BatchInputs",
    "BatchKernel",
    "Breakout",
    "MeanReversion",
    "Momentum",
    "SmaCross",
    "Strategy",
    "get_strategy",
    "register_strategy",
    "strategy_class",
    "unregister_strategy",
]

_SUPPORT_MODULES = frozenset({"base", "kernels", "registry"})

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in _SUPPORT_MODULES and not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")
