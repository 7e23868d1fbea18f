"""The one decision pipeline: strategy -> priors -> sizing, per bar.

Backtests, sweeps and the live router all call :func:`decide` (the router for the last
bar, via :meth:`DecisionFrame.latest`), so a position is sized the same way everywhere::

    frame = decide(bars, signals, regimes, get_strategy("momentum", {}), RiskConfig(...))
    frame.target          # position x frac per bar: what the engine trades
    frame.latest()        # the decision on the last bar
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from app.errors import InputError
from app.risk.priors import estimate_posterior
from app.risk.sizing import RiskConfig, size_positions
from app.strategies.base import Strategy, close_array

__all__ = ["DECISION_COLUMNS", "Decision", "DecisionFrame", "decide", "decide_latest"]

DECISION_COLUMNS = ("position", "prob", "payoff", "frac", "target", "regime", "regime_code")


@dataclass(frozen=True, slots=True)
class Decision:
    """The pipeline's decision on one bar (decided at that bar's close).

    ``position`` is the strategy's side after the short rule (-1, 0, +1), ``prob`` and
    ``payoff`` the priors (NaN when not computed), ``frac`` the sized fraction of equity and
    ``target`` = ``position x frac``.
    """

    timestamp: datetime
    position: float
    prob: float
    payoff: float
    frac: float
    target: float
    regime: str
    regime_code: int


@dataclass(frozen=True, slots=True)
class DecisionFrame:
    """Per-bar decisions as arrays aligned with ``index``."""

    index: pd.Index
    position: np.ndarray
    prob: np.ndarray
    payoff: np.ndarray
    frac: np.ndarray
    target: np.ndarray
    regime: np.ndarray
    regime_code: np.ndarray

    def __len__(self) -> int:
        return len(self.index)

    def to_frame(self) -> pd.DataFrame:
        """The decisions as a DataFrame with :data:`DECISION_COLUMNS`."""
        return pd.DataFrame(
            {
                "position": self.position,
                "prob": self.prob,
                "payoff": self.payoff,
                "frac": self.frac,
                "target": self.target,
                "regime": self.regime.astype(str),
                "regime_code": self.regime_code,
            },
            index=self.index,
        )

    def at(self, i: int) -> Decision:
        """The decision on bar ``i`` (negative counts from the end)."""
        if len(self) == 0:
            raise InputError("no bars, so no decision")
        ts = self.index[i]
        return Decision(
            timestamp=ts.to_pydatetime() if isinstance(ts, pd.Timestamp) else ts,
            position=float(self.position[i]),
            prob=float(self.prob[i]),
            payoff=float(self.payoff[i]),
            frac=float(self.frac[i]),
            target=float(self.target[i]),
            regime=str(self.regime[i]),
            regime_code=int(self.regime_code[i]),
        )

    def latest(self) -> Decision:
        """The decision on the last bar."""
        return self.at(-1)

    def from_position(self, first: int) -> DecisionFrame:
        """The decisions from bar ``first`` on (to drop a warm-up history)."""
        return DecisionFrame(
            index=self.index[first:],
            position=self.position[first:],
            prob=self.prob[first:],
            payoff=self.payoff[first:],
            frac=self.frac[first:],
            target=self.target[first:],
            regime=self.regime[first:],
            regime_code=self.regime_code[first:],
        )


def _regime_arrays(regimes: pd.DataFrame | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    if regimes is None:
        return np.full(n, "all", dtype=object), np.zeros(n, dtype=np.int8)
    if len(regimes) != n:
        raise InputError(f"regimes have {len(regimes)} rows for {n} bars")
    if "regime_code" in regimes.columns:
        codes = regimes["regime_code"].to_numpy()
    else:
        raise InputError("regimes have no 'regime_code' column")
    labels = regimes["regime"].to_numpy(dtype=object) if "regime" in regimes.columns else codes.astype(str)
    return labels, codes


def decide(
    bars: pd.DataFrame,
    signals: pd.DataFrame | None,
    regimes: pd.DataFrame | None,
    strategy: Strategy,
    risk: RiskConfig,
) -> DecisionFrame:
    """Run the strategy, the priors and the sizing on every bar of ``bars``.

    Raises:
        InputError: the strategy's output or the regimes do not line up with the bars.
    """
    n = len(bars)
    raw = np.asarray(strategy.target_positions(bars, signals, regimes), dtype=np.float64)
    if raw.shape != (n,):
        raise InputError(f"strategy {strategy.name!r} returned {raw.shape} targets for {n} bars")
    position = np.sign(np.nan_to_num(raw, nan=0.0))
    if not risk.allow_short:
        position = np.maximum(position, 0.0)
    labels, codes = _regime_arrays(regimes, n)
    if risk.needs_priors:
        posterior = estimate_posterior(close_array(bars), position, codes, risk.priors)
        prob, payoff, concentration = posterior.p, posterior.b, posterior.concentration
    else:
        prob = np.full(n, np.nan)
        payoff = np.full(n, np.nan)
        concentration = None
    frac = size_positions(risk, prob, payoff, labels, concentration)
    target = position * frac
    return DecisionFrame(
        index=bars.index,
        position=position,
        prob=prob,
        payoff=payoff,
        frac=frac,
        target=target + 0.0,  # no negative zeros
        regime=labels,
        regime_code=codes,
    )


def decide_latest(
    bars: pd.DataFrame,
    signals: pd.DataFrame | None,
    regimes: pd.DataFrame | None,
    strategy: Strategy,
    risk: RiskConfig,
) -> Decision:
    """The decision on the last bar of ``bars`` (what the live router acts on)."""
    decision = decide(bars, signals, regimes, strategy, risk).latest()
    if math.isnan(decision.frac):  # pragma: no cover - sizing never yields NaN
        raise InputError("sizing produced no fraction for the last bar")
    return decision
