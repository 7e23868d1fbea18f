"""MarketData over the offline vendors: contract, cache, quality, auto, errors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.bootstrap import build_market_data
from app.config import Settings
from app.dal import (
    INTERVALS,
    BadBars,
    FetchResult,
    MarketData,
    VendorRefused,
)
from app.dal.filesource import SAMPLE_PATH
from app.decision import compute_regimes, compute_signals
from app.errors import DataQualityError, InputError, VendorRejected, VendorUnavailable


@pytest.fixture
def md(make_settings: Callable[..., Settings]) -> MarketData:
    return build_market_data(make_settings())


def _assert_contract(res: FetchResult) -> None:
    bars = res.bars
    assert isinstance(bars.index, pd.DatetimeIndex)
    assert str(bars.index.tz) == "UTC" and bars.index.name == "timestamp"
    assert list(bars.columns) == ["open", "high", "low", "close", "volume"]
    assert (bars.dtypes == np.float64).all()
    assert bars.index.is_monotonic_increasing and bars.index.is_unique


def test_synthetic_daily_fetch_is_normalised_cached_and_served_from_cache(md: MarketData) -> None:
    first = md.fetch("synthetic", "AAPL", date(2023, 1, 3), date(2023, 2, 3), interval="1Day")
    _assert_contract(first)
    assert first.vendor == "synthetic" and first.symbol == "AAPL" and first.interval == "1Day"
    assert not first.from_cache and first.cache_path is not None and Path(first.cache_path).is_file()
    assert "trader-data" in first.cache_path
    assert len(first.bars) == 24  # business days, 2023-01-16 (MLK day) included
    assert (first.bars.index == first.bars.index.normalize()).all()
    assert first.bars.index[0] == pd.Timestamp("2023-01-03", tz="UTC")
    assert first.bars.index[-1] == pd.Timestamp("2023-02-03", tz="UTC")
    assert first.quality.calendar == "XNYS" and first.quality.extra_sessions == 1
    again = md.fetch("synthetic", "AAPL", date(2023, 1, 3), date(2023, 2, 3))
    assert again.from_cache and again.cache_path == first.cache_path
    pd.testing.assert_frame_equal(again.bars, first.bars)
    fresh = md.fetch("synthetic", "AAPL", date(2023, 1, 3), date(2023, 2, 3), use_cache=False)
    assert not fresh.from_cache
    assert first.latency_ms >= 0


def test_synthetic_is_deterministic_per_symbol_and_independent_of_window(md: MarketData) -> None:
    wide = md.fetch("synthetic", "MSFT", date(2022, 1, 1), date(2023, 6, 30), use_cache=False).bars
    narrow = md.fetch("synthetic", "MSFT", date(2023, 3, 1), date(2023, 3, 31), use_cache=False).bars
    pd.testing.assert_frame_equal(wide.loc[narrow.index], narrow)
    other = md.fetch("synthetic", "AAPL", date(2023, 3, 1), date(2023, 3, 31), use_cache=False).bars
    assert not np.allclose(other["close"].to_numpy(), narrow["close"].to_numpy())


@pytest.mark.parametrize("interval", ["1Min", "5Min", "15Min", "30Min", "1Hour"])
def test_synthetic_intraday_covers_new_york_session_minutes(md: MarketData, interval: str) -> None:
    res = md.fetch("synthetic", "AAPL", date(2023, 7, 3), date(2023, 7, 5), interval=interval)
    _assert_contract(res)
    step = INTERVALS[interval].minutes
    per_day = -(-390 // step)  # the last hourly bar (15:30) is a half bar
    assert len(res.bars) == 3 * per_day  # Mon, Tue (holiday, still a business day), Wed
    local = res.bars.index.tz_convert("America/New_York")
    assert local[0].strftime("%H:%M") == "09:30"
    assert local.max().time() < pd.Timestamp("16:00").time()
    assert res.bars.index[0] == pd.Timestamp("2023-07-03 13:30", tz="UTC")  # EDT
    assert res.quality.missing_bars == 0


def test_intraday_datetime_bounds_are_inclusive(md: MarketData) -> None:
    start = datetime(2023, 1, 3, 14, 30, tzinfo=UTC)
    end = datetime(2023, 1, 3, 10, 0, tzinfo=timezone(timedelta(hours=-5)))  # 15:00 UTC
    res = md.fetch("synthetic", "AAPL", start, end, interval="5Min")
    assert res.bars.index[0] == pd.Timestamp(start) and res.bars.index[-1] == pd.Timestamp(
        "2023-01-03 15:00Z"
    )
    assert len(res.bars) == 7
    assert res.quality.missing_bars == 0


def test_signals_and_regimes_have_one_row_per_fetched_bar(md: MarketData) -> None:
    res = md.fetch("synthetic", "QQQ", date(2020, 1, 1), date(2023, 12, 31))
    sig = compute_signals(res.bars)
    reg = compute_regimes(res.bars, sig)
    assert len(res.bars) == len(sig) == len(reg)
    assert sig.index.equals(res.bars.index) and reg.index.equals(res.bars.index)
    assert reg["regime"].astype(str).nunique() >= 5


def test_sample_vendor_serves_shipped_goog_daily_series(md: MarketData) -> None:
    res = md.fetch("sample", "GOOG", date(2004, 1, 1), date(2013, 12, 31))
    _assert_contract(res)
    assert len(res.bars) == 2148
    assert res.bars.index[0] == pd.Timestamp("2004-08-19", tz="UTC")
    assert res.bars["close"].iloc[0] == 100.34
    assert res.quality.missing_sessions == 0 and res.quality.extra_sessions == 0
    with pytest.raises(VendorRefused, match="only holds GOOG") as info:
        md.fetch("sample", "AAPL", date(2010, 1, 1), date(2010, 2, 1))
    assert info.value.vendor == "sample" and info.value.symbol == "AAPL" and info.value.interval == "1Day"
    with pytest.raises(InputError, match="not offered"):
        md.fetch("sample", "GOOG", date(2010, 1, 1), date(2010, 2, 1), interval="5Min")


def test_file_vendor_reads_csv_and_parquet_as_given(md: MarketData, tmp_path: Path) -> None:
    stamps = pd.date_range("2024-03-01 22:00", periods=6, freq="1h")  # naive, read as UTC, weekend hours too
    raw = pd.DataFrame(
        {
            "Timestamp": stamps,
            "Open": [1.1, 1.2, 1.3, 1.2, 1.1, 1.0],
            "High": [1.2, 1.3, 1.4, 1.3, 1.2, 1.1],
            "Low": [1.0, 1.1, 1.2, 1.1, 1.0, 0.9],
            "Close": [1.2, 1.3, 1.3, 1.1, 1.0, 1.0],
            "Volume": [5, 6, 7, 8, 9, 10],
        }
    )
    csv = tmp_path / "eurusd.csv"
    raw.iloc[::-1].to_csv(csv, index=False)
    parquet = tmp_path / "eurusd.parquet"
    raw.to_parquet(parquet)
    a = md.fetch("file", "EURUSD", date(2024, 3, 1), date(2024, 3, 2), interval="1Hour", path=csv)
    b = md.fetch("file", "EURUSD", date(2024, 3, 1), date(2024, 3, 2), interval="1Hour", path=str(parquet))
    _assert_contract(a)
    assert a.bars.index[0] == pd.Timestamp("2024-03-01 22:00", tz="UTC") and len(a.bars) == 6
    pd.testing.assert_frame_equal(a.bars, b.bars)
    assert a.cache_path is None and a.quality.calendar is None
    default = md.fetch("file", "GOOG", date(2010, 1, 4), date(2010, 1, 8))
    assert len(default.bars) == 5


def test_file_vendor_reports_duplicates_and_rejects_impossible_rows(md: MarketData, tmp_path: Path) -> None:
    good = "timestamp,open,high,low,close,volume\n2024-01-02,10,11,9,10.5,100\n2024-01-03,10,11,9,10.2,100\n"
    dup = tmp_path / "dup.csv"
    dup.write_text(good + "2024-01-03,10,11,9,10.4,200\n")
    res = md.fetch("file", "X", date(2024, 1, 1), date(2024, 1, 5), path=dup)
    assert res.quality.duplicates == 1 and len(res.bars) == 2
    assert res.bars["close"].iloc[-1] == 10.4
    for row, what in [
        ("2024-01-04,10,9.5,9,10.2,100", "high below"),
        ("2024-01-04,10,11,10.5,10.2,100", "low above"),
        ("2024-01-04,10,11,9,10.2,-1", "negative"),
        ("2024-01-04,0,11,0,10.2,1", "price <= 0"),
        ("2024-01-04,,11,9,10.2,1", "NaN"),
    ]:
        bad = tmp_path / "bad.csv"
        bad.write_text(good + row + "\n")
        with pytest.raises(BadBars, match=what) as info:
            md.fetch("file", "X", date(2024, 1, 1), date(2024, 1, 5), path=bad)
        assert isinstance(info.value, DataQualityError) and "2024-01-04" in str(info.value)
    missing = tmp_path / "missing.csv"
    missing.write_text("timestamp,open,high,low,close\n2024-01-02,1,1,1,1\n")
    with pytest.raises(BadBars, match="volume"):
        md.fetch("file", "X", date(2024, 1, 1), date(2024, 1, 5), path=missing)
    with pytest.raises(InputError, match="not found"):
        md.fetch("file", "X", date(2024, 1, 1), date(2024, 1, 5), path=tmp_path / "nope.csv")


def test_auto_tries_vendors_in_order_and_records_who_served(make_settings: Callable[..., Settings]) -> None:
    md = build_market_data(make_settings(DAL_AUTO_ORDER="sample,synthetic"))
    res = md.fetch("auto", "AAPL", date(2023, 1, 3), date(2023, 1, 31))
    assert res.vendor == "synthetic"
    assert res.attempts[0][0] == "sample" and "only holds GOOG" in res.attempts[0][1]
    goog = md.fetch("auto", "GOOG", date(2010, 1, 4), date(2010, 1, 8))
    assert goog.vendor == "sample" and goog.attempts == ()
    only_sample = build_market_data(make_settings(DAL_AUTO_ORDER="sample"))
    with pytest.raises(VendorUnavailable, match="no vendor could serve"):
        only_sample.fetch("auto", "AAPL", date(2023, 1, 3), date(2023, 1, 31))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"vendor": "nasdaq"}, "unknown market-data vendor"),
        ({"symbol": "AA PL"}, "invalid symbol"),
        ({"interval": "2Min"}, "unknown interval"),
        ({"start": datetime(2023, 1, 3, 10, 0)}, "naive"),
        ({"start": date(2023, 3, 1)}, "after end"),
    ],
)
def test_invalid_requests_raise_input_error(md: MarketData, kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "vendor": "synthetic",
        "symbol": "AAPL",
        "start": date(2023, 1, 3),
        "end": date(2023, 2, 3),
        "interval": "1Day",
    }
    args.update(kwargs)
    with pytest.raises(InputError, match=message):
        md.fetch(**args)  # type: ignore[arg-type]


def test_bad_auto_order_is_a_config_error(make_settings: Callable[..., Settings]) -> None:
    from app.errors import ConfigError

    with pytest.raises(ConfigError, match="DAL_AUTO_ORDER"):
        build_market_data(make_settings(DAL_AUTO_ORDER="alpaca,nasdaq"))


def test_vendor_refusal_is_a_vendor_rejected() -> None:
    assert issubclass(VendorRefused, VendorRejected)
    assert SAMPLE_PATH.is_file()


def test_a_window_reaching_past_the_fetch_time_is_refetched(md: MarketData) -> None:
    today = datetime.now(UTC).date()
    first = md.fetch("synthetic", "AAPL", today - timedelta(days=10), today + timedelta(days=3))
    again = md.fetch("synthetic", "AAPL", today - timedelta(days=10), today + timedelta(days=3))
    assert not first.from_cache and not again.from_cache and again.cache_path == first.cache_path
    assert md.cache is not None
    key = md.cache.key("synthetic", "AAPL", INTERVALS["1Day"], first.window)
    stored = md.cache.get(key)
    assert stored is not None and "fetched_at" not in stored.attrs
