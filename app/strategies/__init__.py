"""Strategies: one interface shared by backtests, sweeps and the live router.

Build one with :func:`get_strategy`::

    strategy = get_strategy("sma_cross", {"fast": 10, "slow": 20})
    target = strategy.target_positions(bars, signals, regimes)  # float64, -1/0/+1 per bar
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.errors import InputError
from app.strategies.base import BarArrays, Strategy
from app.strategies.breakout import Breakout
from app.strategies.mean_reversion import MeanReversion
from app.strategies.momentum import Momentum
from app.strategies.sma_cross import SmaCross

__all__ = [
    "STRATEGIES",
    "BarArrays",
    "Breakout",
    "MeanReversion",
    "Momentum",
    "SmaCross",
    "Strategy",
    "get_strategy",
]

STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls for cls in (Momentum, MeanReversion, Breakout, SmaCross)
}


def get_strategy(name: str, params: Mapping[str, Any] | None = None) -> Strategy:
    """Return the strategy called ``name`` built from ``params`` (defaults for missing keys).

    Raises:
        InputError: the name is unknown, or a parameter is unknown or invalid.
    """
    cls = STRATEGIES.get(name)
    if cls is None:
        raise InputError(f"unknown strategy {name!r} (known: {', '.join(sorted(STRATEGIES))})")
    return cls.from_params(params)
