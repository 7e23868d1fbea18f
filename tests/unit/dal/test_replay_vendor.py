"""The ``replay`` vendor: recorded bars, served only once complete at the controlled clock's now."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from app.bootstrap import build_market_data
from app.config import Settings
from app.dal import UnsupportedInterval, VendorRefused
from app.dal.ports import BarRequest
from app.dal.registry import VENDORS
from app.dal.replay import ReplayVendor, write_recording
from app.domain.clock import FileClock, build_clock, set_clock_file
from app.domain.intervals import build_window, get_interval
from app.errors import ConfigError
from tests.replay_recording import SESSION, WATCHLIST, record_market

pytestmark = pytest.mark.unit

ET = "America/New_York"


def _et(hour: int, minute: int, day: date = SESSION) -> datetime:
    return pd.Timestamp(datetime(day.year, day.month, day.day, hour, minute)).tz_localize(ET).to_pydatetime()


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("replay")
    record_market(root)
    return root


def _fetch(vendor: ReplayVendor, symbol: str, interval: str, start: date, end: date) -> pd.DataFrame:
    spec = get_interval(interval)
    return vendor.fetch_bars(BarRequest(symbol, spec, build_window(start, end, spec))).frame


def test_intraday_bars_stop_at_the_last_bar_completed_at_now(recording: Path) -> None:
    now = [_et(11, 32)]
    vendor = ReplayVendor(recording, lambda: now[0])
    bars = _fetch(vendor, "AAPL", "5Min", SESSION - timedelta(days=10), SESSION)
    # the 11:25 bar ended at 11:30 (served); the 11:30 bar is still forming at 11:32 (not served)
    assert bars.index[-1] == pd.Timestamp(_et(11, 25)).tz_convert("UTC")
    assert (bars.index + pd.Timedelta(minutes=5) <= pd.Timestamp(now[0])).all()
    earlier_sessions = {d for d in bars.index.tz_convert(ET).date if d < SESSION}
    assert len(earlier_sessions) == 5  # the recorded history before the session is all there
    now[0] = _et(11, 35)  # the clock moves: exactly one more bar appears
    later = _fetch(vendor, "AAPL", "5Min", SESSION - timedelta(days=10), SESSION)
    assert len(later) == len(bars) + 1
    assert later.index[-1] == pd.Timestamp(_et(11, 30)).tz_convert("UTC")
    pd.testing.assert_frame_equal(later.iloc[:-1], bars)


def test_before_the_open_no_bar_of_the_session_is_served(recording: Path) -> None:
    vendor = ReplayVendor(recording, lambda: _et(9, 30))
    bars = _fetch(vendor, "MSFT", "5Min", SESSION - timedelta(days=3), SESSION)
    assert len(bars) > 0
    assert max(bars.index.tz_convert(ET).date) < SESSION


def test_the_daily_bar_of_the_session_appears_at_its_close(recording: Path) -> None:
    now = [_et(15, 59)]
    vendor = ReplayVendor(recording, lambda: now[0])
    before = _fetch(vendor, "NVDA", "1Day", SESSION - timedelta(days=30), SESSION)
    assert before.index[-1].date() < SESSION
    now[0] = _et(16, 0)
    after = _fetch(vendor, "NVDA", "1Day", SESSION - timedelta(days=30), SESSION)
    assert after.index[-1].date() == SESSION
    assert len(after) == len(before) + 1


def test_the_recorded_session_never_leaks_into_any_window(recording: Path) -> None:
    """Whatever the window asks for (up to far in the future), nothing past now comes back."""
    clock_times = [_et(h, m) for h, m in ((4, 0), (9, 35), (10, 7), (13, 30), (15, 55), (18, 0))]
    for now in clock_times:
        vendor = ReplayVendor(recording, lambda now=now: now)  # type: ignore[misc]
        for symbol in WATCHLIST:
            bars = _fetch(vendor, symbol, "5Min", SESSION - timedelta(days=30), SESSION + timedelta(days=30))
            assert (bars.index + pd.Timedelta(minutes=5) <= pd.Timestamp(now)).all(), (symbol, now)


def test_missing_symbol_interval_and_directory_are_named(recording: Path, tmp_path: Path) -> None:
    vendor = ReplayVendor(recording, lambda: _et(12, 0))
    with pytest.raises(VendorRefused, match="no 5Min recording of TSLA"):
        _fetch(vendor, "TSLA", "5Min", SESSION, SESSION)
    with pytest.raises(UnsupportedInterval, match="recorded: 1Day, 5Min"):
        _fetch(vendor, "AAPL", "15Min", SESSION, SESSION)
    with pytest.raises(VendorRefused, match="holds no recording"):
        _fetch(ReplayVendor(tmp_path, lambda: _et(12, 0)), "AAPL", "5Min", SESSION, SESSION)


def test_csv_recordings_are_read_and_a_rewritten_file_is_reloaded(tmp_path: Path) -> None:
    stamps = pd.date_range(pd.Timestamp(_et(9, 30)), periods=4, freq="5min").tz_convert("UTC")
    frame = pd.DataFrame(
        {"timestamp": stamps, "open": 10.0, "high": 11.0, "low": 9.0, "close": 10.5, "volume": 100.0}
    )
    (tmp_path / "5Min").mkdir()
    frame.to_csv(tmp_path / "5Min" / "XYZ.csv", index=False)
    vendor = ReplayVendor(tmp_path, lambda: _et(9, 50))
    assert len(_fetch(vendor, "XYZ", "5Min", SESSION, SESSION)) == 4
    write_recording(tmp_path, "ABC", "5Min", frame.set_index("timestamp").iloc[:2])
    assert len(_fetch(vendor, "ABC", "5Min", SESSION, SESSION)) == 2
    write_recording(tmp_path, "ABC", "5Min", frame.set_index("timestamp"))
    assert len(_fetch(vendor, "ABC", "5Min", SESSION, SESSION)) == 4


def test_selected_by_name_through_settings_with_the_file_clock(
    recording: Path, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    assert "replay" in VENDORS
    clock_file = tmp_path / "clock"
    set_clock_file(clock_file, _et(10, 2))
    settings = make_settings(REPLAY_DIR=recording, REPLAY_CLOCK_FILE=clock_file, DAL_AUTO_ORDER="replay")
    market = build_market_data(settings)
    result = market.fetch("replay", "GOOG", SESSION - timedelta(days=2), SESSION, interval="5Min")
    assert result.vendor == "replay" and not result.from_cache
    assert result.bars.index[-1] == pd.Timestamp(_et(9, 55)).tz_convert("UTC")
    set_clock_file(clock_file, _et(10, 12))  # another process moves the clock: this one follows
    auto = market.fetch("auto", "GOOG", SESSION - timedelta(days=2), SESSION, interval="5Min")
    assert auto.vendor == "replay"
    assert auto.bars.index[-1] == pd.Timestamp(_et(10, 5)).tz_convert("UTC")


def test_replay_needs_a_directory_and_a_replayed_clock_never_drives_a_real_broker(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    market = build_market_data(make_settings())
    with pytest.raises(ConfigError, match="REPLAY_DIR"):
        market.fetch("replay", "AAPL", SESSION, SESSION)
    clock_file = tmp_path / "clock"
    with pytest.raises(ConfigError, match="cannot read the replay clock"):
        build_clock(clock_file, broker="simulated")
    set_clock_file(clock_file, datetime(2026, 11, 18, 15, tzinfo=UTC))
    with pytest.raises(ConfigError, match="only drives the simulated broker"):
        build_clock(clock_file, broker="alpaca")
    replayed = build_clock(clock_file, broker="simulated")
    assert replayed() == datetime(2026, 11, 18, 15, tzinfo=UTC)
    clock_file.write_text("2026-11-18T15:00:00\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="no UTC offset"):
        FileClock(clock_file)()
    clock_file.write_text("not a time", encoding="utf-8")
    with pytest.raises(ConfigError, match="not an ISO-8601 time"):
        FileClock(clock_file)()
