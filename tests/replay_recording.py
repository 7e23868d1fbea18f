"""A recorded market for replay tests: daily history plus 5-minute bars of a few XNYS sessions.

The bars are generated (seeded, so every run records the same market) on the exchange's real
sessions and regular hours, and shaped per symbol so a replayed day has something to decide:
``RALLY`` symbols climb through the replay session, ``SLIDE`` ones fall, ``CRASH`` ones rise in
the morning and drop hard after midday, the rest wander. The replay vendor serves them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from app.dal.frames import make_bars
from app.dal.quality import xnys
from app.dal.replay import write_recording

__all__ = ["SESSION", "SHAPES", "WATCHLIST", "Recording", "record_market", "session_bars"]

SESSION = date(2026, 11, 18)
"""The replayed session (a regular Wednesday 09:30-16:00 ET); fixed, never today's date."""

SHAPES: dict[str, str] = {
    "AAPL": "RALLY",
    "MSFT": "CRASH",
    "NVDA": "RALLY",
    "AMZN": "SLIDE",
    "GOOG": "WANDER",
}
WATCHLIST = tuple(SHAPES)


@dataclass(frozen=True, slots=True)
class Recording:
    root: Path
    session: date
    symbols: tuple[str, ...]
    daily: dict[str, pd.DataFrame]
    intraday: dict[str, pd.DataFrame]


def _sessions(last: date, count: int) -> pd.DatetimeIndex:
    calendar = xnys()
    days = calendar.sessions_in_range(pd.Timestamp(last) - pd.Timedelta(days=count * 2), pd.Timestamp(last))
    return pd.DatetimeIndex(days[-count:])


def _ohlc(closes: np.ndarray, rng: np.random.Generator, spread: float) -> tuple[np.ndarray, ...]:
    opens = np.concatenate([[closes[0]], closes[:-1]]) * (1.0 + rng.normal(0.0, spread / 4, len(closes)))
    top = np.maximum(opens, closes)
    bottom = np.minimum(opens, closes)
    highs = top * (1.0 + np.abs(rng.normal(0.0, spread, len(closes))))
    lows = bottom * (1.0 - np.abs(rng.normal(0.0, spread, len(closes))))
    volume = np.floor(rng.uniform(5e4, 2e5, len(closes)))
    return opens, highs, lows, closes, volume


def _session_drift(shape: str, n: int) -> np.ndarray:
    """Per-bar log drift of the replay session for ``shape`` (78 five-minute bars)."""
    t = np.arange(n)
    if shape == "RALLY":
        return np.full(n, 0.0012)
    if shape == "SLIDE":
        return np.full(n, -0.0010)
    if shape == "CRASH":
        return np.where(t < 30, 0.0015, np.where(t < 48, -0.0060, -0.0005))
    return np.zeros(n)


def session_bars(
    symbol: str, session: date, intraday_days: int = 6, daily_days: int = 260
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(daily, 5-minute) bars of ``symbol`` ending with ``session`` (deterministic per symbol)."""
    seed = sum(ord(c) * (i + 1) for i, c in enumerate(symbol))
    rng = np.random.default_rng(seed)
    shape = SHAPES.get(symbol, "WANDER")
    days = _sessions(session, daily_days)
    daily_returns = rng.normal(0.0003, 0.012, len(days))
    daily_close = (50.0 + seed % 200) * np.exp(np.cumsum(daily_returns))
    intraday_sessions = days[-intraday_days:]
    calendar = xnys()
    frames = []
    for k, day in enumerate(intraday_sessions):
        open_at = pd.Timestamp(calendar.session_open(day)).tz_convert("UTC")
        close_at = pd.Timestamp(calendar.session_close(day)).tz_convert("UTC")
        stamps = pd.date_range(open_at, close_at - pd.Timedelta(minutes=5), freq="5min")
        n = len(stamps)
        position = len(days) - intraday_days + k
        start_price = daily_close[position - 1]
        drift = _session_drift(shape, n) if day.date() == session else np.zeros(n)
        steps = drift + rng.normal(0.0, 0.0015, n)
        closes = start_price * np.exp(np.cumsum(steps))
        frames.append(make_bars(stamps, *_ohlc(closes, rng, 0.0008)))
        daily_close[position] = closes[-1]
    intraday = pd.concat(frames)
    daily = make_bars(days.tz_localize("UTC") if days.tz is None else days, *_ohlc(daily_close, rng, 0.006))
    # each replayed session's daily bar is the aggregate of its 5-minute bars
    for day in intraday_sessions:
        key = pd.Timestamp(day.date()).tz_localize("UTC")
        local = intraday.index.tz_convert("America/New_York").date == day.date()
        part = intraday[local]
        daily.loc[key, ["open", "high", "low", "close", "volume"]] = [
            part["open"].iloc[0],
            part["high"].max(),
            part["low"].min(),
            part["close"].iloc[-1],
            part["volume"].sum(),
        ]
    return daily, intraday


def record_market(root: Path, symbols: tuple[str, ...] = WATCHLIST, session: date = SESSION) -> Recording:
    """Write the recording of ``symbols`` under ``root`` (``1Day/`` and ``5Min/`` parquet files)."""
    daily: dict[str, pd.DataFrame] = {}
    intraday: dict[str, pd.DataFrame] = {}
    for symbol in symbols:
        daily[symbol], intraday[symbol] = session_bars(symbol, session)
        write_recording(root, symbol, "1Day", daily[symbol])
        write_recording(root, symbol, "5Min", intraday[symbol])
    return Recording(root=root, session=session, symbols=symbols, daily=daily, intraday=intraday)
