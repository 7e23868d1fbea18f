"""Per-bar market regime: trend direction crossed with volatility level, computed causally.

Direction comes from Kaufman's efficiency ratio over the signal ``trend`` window: when price
travelled efficiently (``efficiency >= efficiency_threshold``) the bar is in a trend, up or
down by the sign of ``momentum``; otherwise it is in a range. Volatility is high when the
bar's ``realised_vol`` exceeds ``vol_ratio`` times its own trailing mean over ``vol_baseline``
bars (the mean includes the current bar and needs ``min_baseline`` values). Bars without
enough history are ``warmup``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from numba import njit

from app.errors import InputError

__all__ = ["REGIME_LABELS", "RegimeConfig", "compute_regimes"]

REGIME_LABELS: tuple[str, ...] = (
    "warmup",
    "trend_up_low_vol",
    "trend_up_high_vol",
    "trend_down_low_vol",
    "trend_down_high_vol",
    "range_low_vol",
    "range_high_vol",
)
"""Regime labels; a label's position is its ``regime_code``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RegimeConfig:
    """Thresholds and windows of the regime rule."""

    efficiency_threshold: float = 0.3
    vol_ratio: float = 1.0
    vol_baseline: int = 250
    min_baseline: int = 20

    def __post_init__(self) -> None:
        if not 0.0 < self.efficiency_threshold < 1.0:
            raise InputError("RegimeConfig.efficiency_threshold must be between 0 and 1")
        if self.vol_ratio <= 0.0:
            raise InputError("RegimeConfig.vol_ratio must be positive")
        if not 1 <= self.min_baseline <= self.vol_baseline:
            raise InputError("RegimeConfig.min_baseline must be between 1 and vol_baseline")


@njit(cache=True)
def _regimes_nb(
    efficiency: npt.NDArray[np.float64],
    momentum: npt.NDArray[np.float64],
    vol: npt.NDArray[np.float64],
    threshold: float,
    ratio: float,
    baseline: int,
    min_baseline: int,
    out: npt.NDArray[np.int8],
) -> None:
    n = vol.shape[0]
    total = 0.0
    count = 0
    for i in range(n):
        v = vol[i]
        if not np.isnan(v):
            total += v
            count += 1
        if i >= baseline:
            old = vol[i - baseline]
            if not np.isnan(old):
                total -= old
                count -= 1
        e = efficiency[i]
        if np.isnan(v) or np.isnan(e) or count < min_baseline:
            out[i] = 0
            continue
        high = v > ratio * (total / count)
        base = (1 if momentum[i] >= 0.0 else 3) if e >= threshold else 5
        out[i] = base + 1 if high else base


def compute_regimes(
    bars: pd.DataFrame, signals: pd.DataFrame, config: RegimeConfig | None = None
) -> pd.DataFrame:
    """Label every bar with a regime.

    Parameters:
        bars: the bar frame (its index is reused).
        signals: :func:`~app.decision.signals.compute_signals` of ``bars``.

    Returns:
        A frame with the same index: ``regime`` (label) and ``regime_code`` (int8, the
        label's position in :data:`REGIME_LABELS`).

    Raises:
        InputError: ``signals`` does not match ``bars`` or lacks a needed column.
    """
    cfg = config or RegimeConfig()
    if len(signals) != len(bars) or not signals.index.equals(bars.index):
        raise InputError("signals must have exactly the index of bars (one row per bar)")
    missing = [c for c in ("efficiency", "momentum", "realised_vol") if c not in signals.columns]
    if missing:
        raise InputError(f"signals lack column(s) {', '.join(missing)}")
    codes = np.empty(len(bars), dtype=np.int8)
    _regimes_nb(
        np.ascontiguousarray(signals["efficiency"].to_numpy(dtype=np.float64)),
        np.ascontiguousarray(signals["momentum"].to_numpy(dtype=np.float64)),
        np.ascontiguousarray(signals["realised_vol"].to_numpy(dtype=np.float64)),
        cfg.efficiency_threshold,
        cfg.vol_ratio,
        cfg.vol_baseline,
        cfg.min_baseline,
        codes,
    )
    labels = pd.Categorical.from_codes(codes, categories=pd.Index(list(REGIME_LABELS)), validate=False)
    return pd.DataFrame({"regime": labels, "regime_code": codes}, index=bars.index)
