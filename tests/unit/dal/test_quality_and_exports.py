"""Calendar gap counting, window building, and the package's exported names."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest

import app.dal
from app.dal import INTERVALS, build_window, make_bars
from app.dal.quality import check_bars
from app.errors import InputError


def _bars(stamps: list[str]) -> pd.DataFrame:
    n = len(stamps)
    ones = np.ones(n)
    return make_bars(
        pd.DatetimeIndex([pd.Timestamp(s) for s in stamps]), ones, ones * 2, ones / 2, ones, ones
    )


def test_every_exported_name_exists() -> None:
    for name in app.dal.__all__:
        assert getattr(app.dal, name) is not None, name
    assert sorted(app.dal.__all__) == sorted(set(app.dal.__all__))


def test_daily_gaps_count_holes_between_bars_and_edges_separately() -> None:
    window = build_window(date(2023, 1, 2), date(2023, 1, 13), INTERVALS["1Day"])
    # 2023-01-02 is a holiday; sessions are Jan 3-6 and 9-13 (9 sessions)
    frame = _bars(["2023-01-04", "2023-01-05", "2023-01-09", "2023-01-10", "2023-01-14"])
    _, report = check_bars(frame, vendor="t", symbol="X", interval=INTERVALS["1Day"], window=window)
    assert report.expected_sessions == 9
    assert report.missing_sessions == 1 and report.missing_dates == ("2023-01-06",)
    assert report.missing_at_edges == 4  # Jan 3 before the first bar; Jan 11-13 after the last session bar
    assert report.extra_sessions == 1  # a Saturday bar
    assert report.gaps == 1


def test_intraday_gaps_follow_early_closes() -> None:
    interval = INTERVALS["30Min"]
    window = build_window(date(2023, 11, 24), date(2023, 11, 24), interval)  # closes 13:00 New York
    stamps = pd.date_range("2023-11-24 14:30", periods=7, freq="30min", tz="UTC")  # 09:30..12:30 EST
    frame = _bars([str(s) for s in stamps.delete(2)])
    _, report = check_bars(frame, vendor="t", symbol="X", interval=interval, window=window)
    assert report.missing_bars == 1 and report.missing_sessions == 0 and report.expected_sessions == 1


def test_hourly_clock_aligned_bars_count_as_complete() -> None:
    interval = INTERVALS["1Hour"]
    window = build_window(date(2023, 1, 3), date(2023, 1, 3), interval)
    # Alpaca-style hour bars start on the hour: 09:00 (covers the 09:30 open) .. 15:00 New York
    frame = _bars([f"2023-01-03 {h:02d}:00Z" for h in range(14, 21)])
    _, report = check_bars(frame, vendor="t", symbol="X", interval=interval, window=window)
    assert report.missing_bars == 0


def test_window_bounds() -> None:
    daily = build_window(date(2023, 1, 3), datetime(2023, 1, 5, 23, 0, tzinfo=UTC), INTERVALS["1Day"])
    assert daily.start == pd.Timestamp("2023-01-03", tz="UTC") and daily.end == pd.Timestamp(
        "2023-01-06", tz="UTC"
    )
    intraday = build_window(date(2023, 7, 5), date(2023, 7, 5), INTERVALS["5Min"])
    assert intraday.start == pd.Timestamp("2023-07-05 04:00", tz="UTC")
    assert intraday.end == pd.Timestamp("2023-07-06 04:00", tz="UTC")
    with pytest.raises(InputError, match="timezone-aware"):
        build_window("2023-01-03", date(2023, 1, 4), INTERVALS["1Day"])  # type: ignore[arg-type]
