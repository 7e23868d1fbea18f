"""Offline vendor ``synthetic``: deterministic bars with visible regimes.

Each symbol seeds its own generator (CRC-32 of the symbol), so the same symbol and date
always give the same bar whatever window is asked for. Daily bars cover business days
(Monday to Friday, no holiday calendar) from 1990-01-01; intraday bars cover 09:30-16:00
New York on those days. The path alternates stretches of trend up, trend down, a
mean-reverting range and high volatility, so regime labels vary.
"""

from __future__ import annotations

import zlib
from datetime import date

import numpy as np
import numpy.typing as npt
import pandas as pd
from numba import njit

from app.dal.frames import empty_bars, make_bars
from app.dal.ports import BarRequest, Capability, VendorBars
from app.domain.intervals import INTERVALS, NEW_YORK

__all__ = ["SyntheticVendor"]

ORIGIN = date(1990, 1, 1)
_SEGMENTS = 8192
# per-kind (drift, volatility multiplier): trend up, trend down, range, high volatility
_DRIFT = np.array([0.0012, -0.0010, 0.0, 0.0], dtype=np.float64)
_VOL = np.array([0.8, 0.9, 0.7, 2.6], dtype=np.float64)

FloatArray = npt.NDArray[np.float64]


def _seed(symbol: str) -> int:
    return zlib.crc32(symbol.encode("utf-8"))


@njit(cache=True)
def _path_nb(
    z: FloatArray,
    kinds: npt.NDArray[np.int64],
    lengths: npt.NDArray[np.int64],
    drift: FloatArray,
    vol: FloatArray,
    base_vol: float,
    start: float,
    out: FloatArray,
) -> None:
    n = z.shape[0]
    seg = 0
    left = lengths[0]
    logp = np.log(start)
    anchor = logp
    sign = 1.0
    for i in range(n):
        if left == 0:
            seg = (seg + 1) % lengths.shape[0]
            left = lengths[seg]
            anchor = logp
            sign = 1.0 if z[i, 4] >= 0.0 else -1.0
        left -= 1
        k = kinds[seg]
        sigma = base_vol * vol[k]
        r = drift[k] * base_vol / 0.012 + sigma * z[i, 0]
        if k == 2:
            r -= 0.15 * (logp - anchor)
        elif k == 3:
            r += sign * 0.0004 * base_vol / 0.012
        open_ = np.exp(logp + 0.1 * sigma * z[i, 1])
        logp += r
        close = np.exp(logp)
        out[i, 0] = open_
        out[i, 1] = max(open_, close) * np.exp(0.5 * sigma * abs(z[i, 2]))
        out[i, 2] = min(open_, close) * np.exp(-0.5 * sigma * abs(z[i, 3]))
        out[i, 3] = close
        out[i, 4] = np.floor(1_000_000.0 * vol[k] * np.exp(0.3 * z[i, 1]))


def _simulate(
    seed: list[int], n: int, base_vol: float, start: float, seg_range: tuple[int, int]
) -> FloatArray:
    plan = np.random.default_rng([*seed, 1])
    lengths = plan.integers(seg_range[0], seg_range[1], size=_SEGMENTS).astype(np.int64)
    kinds = plan.integers(0, 4, size=_SEGMENTS).astype(np.int64)
    z = np.random.default_rng([*seed, 2]).standard_normal((n, 5))
    out = np.empty((n, 5), dtype=np.float64)
    _path_nb(z, kinds, lengths, _DRIFT, _VOL, base_vol, start, out)
    return out


class SyntheticVendor:
    """Seeded synthetic bars for offline work and tests."""

    name = "synthetic"
    capabilities = frozenset(
        {Capability.DAILY, Capability.INTRADAY, Capability.OFFLINE, Capability.CACHEABLE}
    )
    intervals = frozenset(INTERVALS)

    def _daily(self, symbol: str, last: date) -> pd.DataFrame:
        days = pd.bdate_range(ORIGIN, last)
        start = 20.0 + (_seed(symbol) % 480)
        values = _simulate([_seed(symbol)], len(days), 0.012, start, (20, 90))
        return make_bars(days, values[:, 0], values[:, 1], values[:, 2], values[:, 3], values[:, 4])

    def fetch_bars(self, request: BarRequest) -> VendorBars:
        window = request.window
        if window.last_date < ORIGIN:
            return VendorBars(empty_bars())
        daily = self._daily(request.symbol, window.last_date)
        if request.interval.is_daily:
            return VendorBars(daily[(daily.index >= window.start) & (daily.index < window.end)])
        step = request.interval.minutes
        per_day = -(-390 // step)
        frames = []
        for day in pd.bdate_range(max(window.first_date, ORIGIN), window.last_date):
            key = pd.Timestamp(day.date()).tz_localize("UTC")
            opening = float(daily["open"].to_numpy()[daily.index.get_loc(key)])
            seed = [_seed(request.symbol), day.toordinal(), step]
            values = _simulate(seed, per_day, 0.012 / np.sqrt(390 / step), opening, (10, 60))
            open_at = pd.Timestamp(day.date()).replace(hour=9, minute=30).tz_localize(NEW_YORK)
            stamps = pd.date_range(open_at, periods=per_day, freq=f"{step}min").tz_convert("UTC")
            values[:, 4] = np.floor(values[:, 4] / per_day)
            frames.append(
                make_bars(stamps, values[:, 0], values[:, 1], values[:, 2], values[:, 3], values[:, 4])
            )
        if not frames:
            return VendorBars(empty_bars())
        bars = pd.concat(frames)
        return VendorBars(bars[(bars.index >= window.start) & (bars.index < window.end)])
