"""Risk: priors (win probability and payoff per bar), position sizing and the kill switch.

:mod:`app.risk.priors` and :mod:`app.risk.sizing` are re-exported here; the kill switch and
the order guard live in :mod:`app.risk.kill_switch` and :mod:`app.risk.guard`.
"""

from __future__ import annotations

from app.risk.priors import PriorConfig, estimate_priors
from app.risk.sizing import (
    DEFAULT_REGIME_MULTIPLIERS,
    SIZING_METHODS,
    RiskConfig,
    SizingMethod,
    all_in,
    fixed_fraction,
    fractional_kelly,
    kelly_fraction,
    size_positions,
)

__all__ = [
    "DEFAULT_REGIME_MULTIPLIERS",
    "SIZING_METHODS",
    "PriorConfig",
    "RiskConfig",
    "SizingMethod",
    "all_in",
    "estimate_priors",
    "fixed_fraction",
    "fractional_kelly",
    "kelly_fraction",
    "size_positions",
]
