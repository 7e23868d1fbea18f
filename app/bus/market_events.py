"""Publish fetched market data to the bus: bars, signals and regimes, one event per row.

Every event is keyed by symbol, so one symbol's rows stay in one partition and arrive in
time order. Event ids are derived from (type, vendor, symbol, interval, bar time), so a bar
fetched and published twice carries the same id both times and consumers dedupe it like any
redelivery. Event types and hubs:

=====================  ==================  =====================================
frame                  event type          hub (setting)
=====================  ==================  =====================================
bars                   ``bar.raw``         ``EH_HUB_BARS`` (``bars.raw``)
signals                ``signal.enriched`` ``EH_HUB_SIGNALS`` (``signals.enriched``)
regimes                ``regime.snapshot`` ``EH_HUB_REGIMES`` (``regimes.snapshot``)
=====================  ==================  =====================================
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from pydantic import AwareDatetime, BaseModel, ConfigDict

from app.bus.envelope import Envelope
from app.bus.ports import Bus
from app.config import Settings
from app.errors import InputError

__all__ = [
    "BAR_EVENT",
    "REGIME_EVENT",
    "SIGNAL_EVENT",
    "BarEvent",
    "MarketPublishResult",
    "RegimeEvent",
    "SignalEvent",
    "market_event_id",
    "publish_market_frames",
]

BAR_EVENT = "bar.raw"
SIGNAL_EVENT = "signal.enriched"
REGIME_EVENT = "regime.snapshot"

Scalar = float | int | str | bool | None


class _RowEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    symbol: str
    vendor: str
    interval: str
    timestamp: AwareDatetime


class BarEvent(_RowEvent):
    """One OHLCV bar as fetched (payload of ``bar.raw``)."""

    open: float
    high: float
    low: float
    close: float
    volume: float


class SignalEvent(_RowEvent):
    """The signal columns of one bar; ``None`` where a window has not filled yet."""

    values: dict[str, Scalar]


class RegimeEvent(_RowEvent):
    """The regime label of one bar, plus any other regime columns."""

    regime: str | None
    values: dict[str, Scalar]


@dataclass(frozen=True, slots=True)
class MarketPublishResult:
    """How many events went to each hub."""

    symbol: str
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _clean(value: Any) -> Scalar:
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _rows(frame: pd.DataFrame) -> Iterator[tuple[pd.Timestamp, dict[str, Scalar]]]:
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise InputError("a market frame needs a DatetimeIndex (bar timestamps)")
    index = frame.index.tz_localize("UTC") if frame.index.tz is None else frame.index.tz_convert("UTC")
    columns = [str(c) for c in frame.columns]
    for stamp, row in zip(index, frame.itertuples(index=False, name=None), strict=True):
        yield stamp, {column: _clean(value) for column, value in zip(columns, row, strict=True)}


def _bar_envelopes(frame: pd.DataFrame, base: dict[str, Any], correlation_id: str | None) -> list[Envelope]:
    missing = [c for c in ("open", "high", "low", "close", "volume") if c not in frame.columns]
    if missing:
        raise InputError(f"bars frame lacks column(s) {', '.join(missing)}")
    out = []
    for stamp, values in _rows(frame[["open", "high", "low", "close", "volume"]]):
        payload = BarEvent(timestamp=stamp.to_pydatetime(), **base, **values)
        out.append(_wrap(BAR_EVENT, payload, base, stamp, correlation_id))
    return out


def market_event_id(event_type: str, vendor: str, symbol: str, interval: str, stamp: pd.Timestamp) -> str:
    """The id of one row's event: the same bar published twice gets the same id."""
    key = f"{event_type}|{vendor}|{symbol}|{interval}|{stamp.isoformat()}"
    return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()


def _wrap(
    event_type: str, payload: BaseModel, base: dict[str, Any], stamp: pd.Timestamp, correlation_id: str | None
) -> Envelope:
    return Envelope.wrap(
        event_type,
        payload,
        partition_key=base["symbol"],
        correlation_id=correlation_id,
        event_id=market_event_id(event_type, base["vendor"], base["symbol"], base["interval"], stamp),
    )


def _signal_envelopes(
    frame: pd.DataFrame, base: dict[str, Any], correlation_id: str | None
) -> list[Envelope]:
    return [
        _wrap(
            SIGNAL_EVENT,
            SignalEvent(timestamp=stamp.to_pydatetime(), values=values, **base),
            base,
            stamp,
            correlation_id,
        )
        for stamp, values in _rows(frame)
    ]


def _regime_envelopes(
    frame: pd.DataFrame, base: dict[str, Any], correlation_id: str | None
) -> list[Envelope]:
    if "regime" not in frame.columns:
        raise InputError("regimes frame lacks the 'regime' column")
    out = []
    for stamp, values in _rows(frame):
        label = values.pop("regime")
        payload = RegimeEvent(
            timestamp=stamp.to_pydatetime(),
            regime=None if label is None else str(label),
            values=values,
            **base,
        )
        out.append(_wrap(REGIME_EVENT, payload, base, stamp, correlation_id))
    return out


def publish_market_frames(
    bus: Bus,
    settings: Settings,
    symbol: str,
    *,
    bars: pd.DataFrame | None = None,
    signals: pd.DataFrame | None = None,
    regimes: pd.DataFrame | None = None,
    vendor: str = "unknown",
    interval: str = "",
    correlation_id: str | None = None,
    chunk_size: int = 1000,
) -> MarketPublishResult:
    """Publish each given frame, one event per row, keyed by ``symbol``.

    Parameters:
        bars: a bar frame (``open``, ``high``, ``low``, ``close``, ``volume``) to ``EH_HUB_BARS``.
        signals: a signals frame (any float columns) to ``EH_HUB_SIGNALS``.
        regimes: a regimes frame with a ``regime`` column to ``EH_HUB_REGIMES``.
        correlation_id: ties the three streams of one fetch together (e.g. a run id).

    Raises:
        InputError: a frame lacks its required columns or a time index.
        BusError: the bus refused a publish.
    """
    if not symbol:
        raise InputError("symbol must not be empty")
    base = {"symbol": symbol, "vendor": vendor, "interval": interval}
    plan = [
        (settings.EH_HUB_BARS, bars, _bar_envelopes),
        (settings.EH_HUB_SIGNALS, signals, _signal_envelopes),
        (settings.EH_HUB_REGIMES, regimes, _regime_envelopes),
    ]
    result = MarketPublishResult(symbol)
    for hub, frame, build in plan:
        if frame is None:
            continue
        envelopes = build(frame, base, correlation_id)
        for start in range(0, len(envelopes), chunk_size):
            bus.publish(hub, envelopes[start : start + chunk_size])
        result.counts[hub] = len(envelopes)
    return result
