"""Decisions: the per-bar features (signals, regimes) and the one pipeline that turns a
strategy's positions into sized targets.

Everything here is pure computation on frames and arrays (no database, bus, broker or
vendor); backtests, sweeps, the live router and the scheduler import it from here::

    signals = compute_signals(bars)
    regimes = compute_regimes(bars, signals)
    frame = decide(bars, signals, regimes, get_strategy("breakout"), RiskConfig())
    frame.latest()  # the decision on the last bar

* :mod:`app.decision.signals`: ``compute_signals`` (12 causal feature columns).
* :mod:`app.decision.regimes`: ``compute_regimes`` (trend x volatility label per bar).
* :mod:`app.decision.pipeline`: ``decide`` (strategy -> priors -> sizing).
"""

from __future__ import annotations

from app.decision.pipeline import DECISION_COLUMNS, Decision, DecisionFrame, decide, decide_latest
from app.decision.regimes import REGIME_LABELS, RegimeConfig, compute_regimes
from app.decision.signals import SIGNAL_COLUMNS, SignalConfig, compute_signals

__all__ = [
    "DECISION_COLUMNS",
    "REGIME_LABELS",
    "SIGNAL_COLUMNS",
    "Decision",
    "DecisionFrame",
    "RegimeConfig",
    "SignalConfig",
    "compute_regimes",
    "compute_signals",
    "decide",
    "decide_latest",
]
