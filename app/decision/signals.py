"""Per-bar features computed causally from a bar frame.

Every value at bar ``i`` uses bars ``0..i`` only, and the output has exactly one row per
input bar (warm-up rows hold NaN). One Numba kernel computes all columns in a single pass:

=================  ==========================================================================
column             meaning
=================  ==========================================================================
``return_1``       log return close[i] / close[i-1]
``sma_fast``       simple moving average of close over ``fast`` bars
``sma_slow``       simple moving average of close over ``slow`` bars
``rsi``            Wilder RSI of close over ``rsi`` bars (0..100)
``atr``            Wilder average true range over ``atr`` bars
``zscore``         (close - mean) / sample std of close over ``zscore`` bars
``breakout_high``  highest high of the ``breakout`` bars *before* bar i
``breakout_low``   lowest low of the ``breakout`` bars before bar i
``breakout``       +1 close above ``breakout_high``, -1 below ``breakout_low``, else 0
``realised_vol``   sample std of ``return_1`` over ``vol`` bars (per bar, not annualised)
``momentum``       close[i] / close[i - trend] - 1
``efficiency``     Kaufman efficiency ratio over ``trend`` bars (0..1)
=================  ==========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from numba import njit

from app.errors import DataQualityError, InputError

__all__ = ["SIGNAL_COLUMNS", "SignalConfig", "compute_signals"]

SIGNAL_COLUMNS: tuple[str, ...] = (
    "return_1",
    "sma_fast",
    "sma_slow",
    "rsi",
    "atr",
    "zscore",
    "breakout_high",
    "breakout_low",
    "breakout",
    "realised_vol",
    "momentum",
    "efficiency",
)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class SignalConfig:
    """Window lengths, in bars."""

    fast: int = 10
    slow: int = 50
    rsi: int = 14
    atr: int = 14
    zscore: int = 20
    breakout: int = 20
    vol: int = 20
    trend: int = 20

    def __post_init__(self) -> None:
        for name in ("fast", "slow", "rsi", "atr", "zscore", "breakout", "vol", "trend"):
            if getattr(self, name) < 2:
                raise InputError(f"SignalConfig.{name} must be at least 2 bars")


@njit(cache=True)
def _signals_nb(
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    fast: int,
    slow: int,
    rsi_n: int,
    atr_n: int,
    z_n: int,
    brk_n: int,
    vol_n: int,
    trend_n: int,
    out: FloatArray,
) -> None:
    n = close.shape[0]
    # warm-up prefixes are NaN; every later slot is written by the loop below
    warm = (1, fast - 1, slow - 1, rsi_n, atr_n - 1, z_n - 1, brk_n, brk_n, brk_n, vol_n, trend_n, trend_n)
    for k in range(len(warm)):
        out[k, : min(warm[k], n)] = np.nan
    # monotonic queues of bar indices (head..tail-1), one slot per bar: no wrap-around
    qh = np.empty(max(n, 1), dtype=np.int64)
    ql = np.empty(max(n, 1), dtype=np.int64)
    h_head = 0
    h_tail = 0
    l_head = 0
    l_tail = 0
    sum_fast = 0.0
    sum_slow = 0.0
    sum_z = 0.0
    sumsq_z = 0.0
    sum_r = 0.0
    sumsq_r = 0.0
    sum_abs = 0.0
    gain = 0.0
    loss = 0.0
    atr = 0.0
    tr_sum = 0.0
    z_ref = close[0] if n > 0 else 0.0
    for i in range(n):
        c = close[i]
        # moving averages
        sum_fast += c
        if i >= fast:
            sum_fast -= close[i - fast]
        if i >= fast - 1:
            out[1, i] = sum_fast / fast
        sum_slow += c
        if i >= slow:
            sum_slow -= close[i - slow]
        if i >= slow - 1:
            out[2, i] = sum_slow / slow
        # z-score (shifted sums keep the variance well conditioned)
        d = c - z_ref
        sum_z += d
        sumsq_z += d * d
        if i >= z_n:
            e = close[i - z_n] - z_ref
            sum_z -= e
            sumsq_z -= e * e
        if i >= z_n - 1:
            mean = sum_z / z_n
            var = (sumsq_z - z_n * mean * mean) / (z_n - 1)
            if var > 1e-24:
                out[5, i] = (d - mean) / np.sqrt(var)
            else:
                out[5, i] = 0.0
        if i == 0:
            tr = high[0] - low[0]
            tr_sum += tr
            if atr_n == 1:
                atr = tr
                out[4, i] = atr
            continue
        prev = close[i - 1]
        r = np.log(c / prev)
        out[0, i] = r
        # realised volatility of returns (returns start at bar 1)
        sum_r += r
        sumsq_r += r * r
        if i > vol_n:
            rr = out[0, i - vol_n]
            sum_r -= rr
            sumsq_r -= rr * rr
        if i >= vol_n:
            mean_r = sum_r / vol_n
            var_r = (sumsq_r - vol_n * mean_r * mean_r) / (vol_n - 1)
            out[9, i] = np.sqrt(var_r) if var_r > 0.0 else 0.0
        # Wilder RSI
        ch = c - prev
        g = ch if ch > 0.0 else 0.0
        lo = -ch if ch < 0.0 else 0.0
        if i <= rsi_n:
            gain += g
            loss += lo
            if i == rsi_n:
                gain /= rsi_n
                loss /= rsi_n
        else:
            gain = (gain * (rsi_n - 1) + g) / rsi_n
            loss = (loss * (rsi_n - 1) + lo) / rsi_n
        if i >= rsi_n:
            if loss == 0.0:
                out[3, i] = 100.0 if gain > 0.0 else 50.0
            else:
                out[3, i] = 100.0 - 100.0 / (1.0 + gain / loss)
        # Wilder ATR
        tr = max(high[i] - low[i], abs(high[i] - prev), abs(low[i] - prev))
        if i < atr_n:
            tr_sum += tr
            if i == atr_n - 1:
                atr = tr_sum / atr_n
                out[4, i] = atr
        else:
            atr = (atr * (atr_n - 1) + tr) / atr_n
            out[4, i] = atr
        # breakout levels from the previous brk_n bars: monotonic queues of bar indices
        j = i - 1
        while h_tail > h_head and high[qh[h_tail - 1]] <= high[j]:
            h_tail -= 1
        qh[h_tail] = j
        h_tail += 1
        if qh[h_head] < i - brk_n:
            h_head += 1
        while l_tail > l_head and low[ql[l_tail - 1]] >= low[j]:
            l_tail -= 1
        ql[l_tail] = j
        l_tail += 1
        if ql[l_head] < i - brk_n:
            l_head += 1
        if i >= brk_n:
            hh = high[qh[h_head]]
            ll = low[ql[l_head]]
            out[6, i] = hh
            out[7, i] = ll
            out[8, i] = 1.0 if c > hh else (-1.0 if c < ll else 0.0)
        # momentum and efficiency ratio
        sum_abs += abs(ch)
        if i > trend_n:
            sum_abs -= abs(close[i - trend_n] - close[i - trend_n - 1])
        if i >= trend_n:
            base = close[i - trend_n]
            out[10, i] = c / base - 1.0
            out[11, i] = abs(c - base) / sum_abs if sum_abs > 0.0 else 0.0


def _arrays(bars: pd.DataFrame) -> tuple[FloatArray, FloatArray, FloatArray]:
    missing = [c for c in ("high", "low", "close") if c not in bars.columns]
    if missing:
        raise InputError(f"bar frame lacks column(s) {', '.join(missing)}")
    high = np.ascontiguousarray(bars["high"].to_numpy(dtype=np.float64))
    low = np.ascontiguousarray(bars["low"].to_numpy(dtype=np.float64))
    close = np.ascontiguousarray(bars["close"].to_numpy(dtype=np.float64))
    if not (np.isfinite(close).all() and np.isfinite(high).all() and np.isfinite(low).all()):
        raise DataQualityError("bar frame holds NaN or infinite prices; clean it before computing signals")
    if close.size and close.min() <= 0.0:
        raise DataQualityError("bar frame holds a close price <= 0")
    return high, low, close


def compute_signals(bars: pd.DataFrame, config: SignalConfig | None = None) -> pd.DataFrame:
    """Compute :data:`SIGNAL_COLUMNS` for every bar of ``bars``.

    Returns:
        A float64 frame with the same index as ``bars`` and one row per bar.

    Raises:
        InputError: a price column is missing.
        DataQualityError: prices are NaN, infinite or not positive.
    """
    cfg = config or SignalConfig()
    high, low, close = _arrays(bars)
    # one row per column, so each output column is contiguous (pandas keeps the block as is)
    out = np.empty((len(SIGNAL_COLUMNS), close.shape[0]), dtype=np.float64)
    _signals_nb(
        high,
        low,
        close,
        cfg.fast,
        cfg.slow,
        cfg.rsi,
        cfg.atr,
        cfg.zscore,
        cfg.breakout,
        cfg.vol,
        cfg.trend,
        out,
    )
    return pd.DataFrame(out.T, index=bars.index, columns=list(SIGNAL_COLUMNS), copy=False)
