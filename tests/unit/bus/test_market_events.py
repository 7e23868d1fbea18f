"""Publishing fetched bars, signals and regimes to their hubs, keyed by symbol."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from app.bootstrap import build_bus
from app.bus.local import LocalBus
from app.bus.market_events import (
    BAR_EVENT,
    REGIME_EVENT,
    SIGNAL_EVENT,
    BarEvent,
    RegimeEvent,
    SignalEvent,
    publish_market_frames,
)
from app.config import Settings
from app.errors import InputError


def _frames(n: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    index = pd.date_range("2024-01-02", periods=n, freq="D", tz="UTC", name="timestamp")
    close = np.linspace(100.0, 110.0, n)
    bars = pd.DataFrame(
        {"open": close - 1, "high": close + 1, "low": close - 2, "close": close, "volume": np.full(n, 1e6)},
        index=index,
    )
    signals = pd.DataFrame({"sma_fast": np.where(np.arange(n) < 2, np.nan, close), "rsi": 50.0}, index=index)
    labels = pd.Categorical(["warmup"] * 2 + ["trend_up"] * (n - 2), categories=["warmup", "trend_up"])
    regimes = pd.DataFrame({"regime": labels, "regime_code": np.int8(1)}, index=index)
    return bars, signals, regimes


def test_frames_go_to_their_hubs_one_event_per_row(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    bus = build_bus(settings)
    assert isinstance(bus, LocalBus)
    bars, signals, regimes = _frames(5)
    result = publish_market_frames(
        bus,
        settings,
        "AAPL",
        bars=bars,
        signals=signals,
        regimes=regimes,
        vendor="yahoo",
        interval="1Day",
        correlation_id="run-1",
        chunk_size=2,
    )
    assert result.counts == {"bars.raw": 5, "signals.enriched": 5, "regimes.snapshot": 5}
    assert result.total == 15

    bar_events = bus.peek("bars.raw", 10)
    assert {d.partition for d in bar_events} == {bar_events[0].partition}
    first = bar_events[0].envelope
    assert first is not None and first.type == BAR_EVENT and first.partition_key == "AAPL"
    assert first.correlation_id == "run-1"
    bar = BarEvent.model_validate(first.payload)
    assert (bar.close, bar.vendor, bar.interval) == (100.0, "yahoo", "1Day")
    assert bar.timestamp == pd.Timestamp("2024-01-02", tz="UTC")

    signal = bus.peek("signals.enriched", 5)[0].envelope
    assert signal is not None and signal.type == SIGNAL_EVENT
    assert SignalEvent.model_validate(signal.payload).values == {"sma_fast": None, "rsi": 50.0}

    regime = bus.peek("regimes.snapshot", 1)[0].envelope
    assert regime is not None and regime.type == REGIME_EVENT
    parsed = RegimeEvent.model_validate(regime.payload)
    assert (parsed.regime, parsed.values) == ("trend_up", {"regime_code": 1})
    bus.close()


def test_only_given_frames_are_published(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    bus = build_bus(settings)
    bars, _, _ = _frames(3)
    result = publish_market_frames(bus, settings, "MSFT", bars=bars)
    assert result.counts == {"bars.raw": 3}
    bus.close()


def test_frame_without_required_columns_is_an_input_error(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    bus = build_bus(settings)
    bars, _, regimes = _frames(3)
    with pytest.raises(InputError, match="volume"):
        publish_market_frames(bus, settings, "AAPL", bars=bars.drop(columns="volume"))
    with pytest.raises(InputError, match="regime"):
        publish_market_frames(bus, settings, "AAPL", regimes=regimes.drop(columns="regime"))
    with pytest.raises(InputError, match="symbol"):
        publish_market_frames(bus, settings, "", bars=bars)
    bus.close()
