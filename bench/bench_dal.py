"""The DAL hot path on about 1,000,000 one-minute bars: normalisation, signals, regimes.

Bars are stamped on New York Stock Exchange session minutes (as a vendor returns them) and
normalised the way production does it: ``make_bars`` + ``check_bars`` with the XNYS calendar
on, measuring session gaps over the fetch window. The peer is the same feature set and regime
rule written with pandas rolling/ewm operations (single-threaded). Every side gets the same
interleaved rounds after a warm-up; Numba kernels run on one thread.
Run as part of ``python -m bench`` (or ``python -m bench --only dal``).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from app.dal import INTERVALS, make_bars
from app.dal.quality import check_bars, xnys
from app.decision import compute_regimes, compute_signals
from app.domain.intervals import build_window
from bench.report import Goal, Section
from bench.timing import Stat, interleaved, numba_threads

FIRST_SESSION = date(2012, 1, 3)


def session_minutes(n: int) -> tuple[np.ndarray, date, date]:
    """Whole XNYS sessions of minutes from :data:`FIRST_SESSION` until at least ``n``, and their dates.

    Minutes are epoch seconds.
    """
    cal = xnys()
    sessions = cal.sessions_in_range(pd.Timestamp(FIRST_SESSION), cal.last_session)
    opens = pd.DatetimeIndex(cal.opens.loc[sessions]).as_unit("s").asi8
    closes = pd.DatetimeIndex(cal.closes.loc[sessions]).as_unit("s").asi8
    stamps: list[np.ndarray] = []
    total = 0
    last = FIRST_SESSION
    for k in range(len(sessions)):
        minutes = np.arange(opens[k], closes[k], 60, dtype=np.int64)
        stamps.append(minutes)
        total += len(minutes)
        last = sessions[k].date()
        if total >= n:
            break
    return np.concatenate(stamps), FIRST_SESSION, last


def raw_arrays(n: int, seed: int = 7) -> dict[str, Any]:
    """Vendor-like columns: epoch seconds of session minutes and OHLCV values, plus the window."""
    stamps, first, last = session_minutes(n)
    n = len(stamps)
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.0008, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    spread = np.abs(rng.normal(0.0, 0.0005, n))
    return {
        "t": stamps,
        "window": build_window(first, last, INTERVALS["1Min"]),
        "o": open_,
        "h": np.maximum(open_, close) * (1 + spread),
        "l": np.minimum(open_, close) * (1 - spread),
        "c": close,
        "v": rng.integers(100, 10_000, n).astype(np.float64),
    }


def normalise(raw: dict[str, Any]) -> pd.DataFrame:
    stamps = pd.DatetimeIndex(pd.to_datetime(raw["t"], unit="s", utc=True))
    frame = make_bars(stamps, raw["o"], raw["h"], raw["l"], raw["c"], raw["v"])
    clean, report = check_bars(
        frame, vendor="bench", symbol="X", interval=INTERVALS["1Min"], window=raw["window"], calendar=True
    )
    if report.missing_bars:
        raise RuntimeError(f"generated session minutes miss {report.missing_bars} bars")
    return clean


def pandas_peer(bars: pd.DataFrame) -> pd.DataFrame:
    c, h, lo = bars["close"], bars["high"], bars["low"]
    ret = np.log(c / c.shift(1))
    change = c.diff()
    out = pd.DataFrame(index=bars.index)
    out["return_1"] = ret
    out["sma_fast"] = c.rolling(10).mean()
    out["sma_slow"] = c.rolling(50).mean()
    gain = change.clip(lower=0).ewm(alpha=1 / 14, adjust=False).mean()
    loss = (-change).clip(lower=0).ewm(alpha=1 / 14, adjust=False).mean()
    out["rsi"] = 100 - 100 / (1 + gain / loss)
    prev = c.shift(1)
    tr = pd.concat([h - lo, (h - prev).abs(), (lo - prev).abs()], axis=1).max(axis=1)
    out["atr"] = tr.ewm(alpha=1 / 14, adjust=False).mean()
    out["zscore"] = (c - c.rolling(20).mean()) / c.rolling(20).std()
    out["breakout_high"] = h.rolling(20).max().shift(1)
    out["breakout_low"] = lo.rolling(20).min().shift(1)
    out["realised_vol"] = ret.rolling(20).std()
    out["momentum"] = c / c.shift(20) - 1
    out["efficiency"] = (c - c.shift(20)).abs() / change.abs().rolling(20).sum()
    vol_mean = out["realised_vol"].rolling(250, min_periods=20).mean()
    trend = out["efficiency"] >= 0.3
    code = np.where(trend, np.where(out["momentum"] >= 0, 1, 3), 5) + (out["realised_vol"] > vol_mean)
    out["regime_code"] = code
    return out


def run(quick: bool = False) -> Section:
    raw = raw_arrays(1_000_000)
    n = len(raw["t"])
    bars = normalise(raw)
    sig = compute_signals(bars)
    with numba_threads(1):
        stats = interleaved(
            {
                "norm": lambda: normalise(raw),
                "signals": lambda: compute_signals(bars),
                "regimes": lambda: compute_regimes(bars, sig),
                "both": lambda: compute_regimes(bars, compute_signals(bars)),
                "all": lambda: compute_regimes(bars, compute_signals(normalise(raw))),
                "peer": lambda: pandas_peer(bars),
            },
            rounds=3 if quick else 7,
            warmup=1,
        )

    def rate(stat: Stat) -> str:
        return f"{n / stat.median / 1e6:,.1f} M bars/s"

    rows = [
        ("normalise (arrays -> frame, sort/dup/OHLC checks, XNYS session gaps)", stats["norm"]),
        ("compute_signals (12 columns)", stats["signals"]),
        ("compute_regimes", stats["regimes"]),
        ("signals + regimes", stats["both"]),
        ("normalise + signals + regimes", stats["all"]),
        ("peer: pandas rolling/ewm, same features + regime rule (from a normalised frame)", stats["peer"]),
    ]
    table = "\n".join(f"| {name} | 1 | {stat.cell()} | {rate(stat)} |" for name, stat in rows)
    both = n / stats["both"].median
    vs_peer = stats["peer"].median / stats["both"].median
    body = (
        f"{n:,} one-minute bars on XNYS session minutes from {FIRST_SESSION}; normalisation with the"
        " calendar on (as production runs it). Median (min-max) of"
        f" {stats['norm'].rounds} interleaved rounds after a warm-up; one thread.\n\n"
        "| step | threads | time | throughput |\n|---|---|---:|---:|\n"
        f"{table}\n\n"
        f"signals + regimes are {vs_peer:,.1f}x faster than the pandas peer computing the same columns."
    )
    return Section(
        name="dal",
        title="DAL: normalisation, signals and regimes",
        body=body,
        ratios={"dal.signals_regimes.vs_pandas.1t": vs_peer},
        goals=[Goal("signals + regimes >= 5 M bars/s", f"{both / 1e6:,.1f} M bars/s", both >= 5e6)],
    )


if __name__ == "__main__":
    print(run().body)
