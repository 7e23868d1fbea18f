"""Alpha Vantage rows to the normalised frame.

Timestamps are naive wall-clock times in the meta time zone (US/Eastern). Daily keys are
bare session dates. Intraday keys label bar starts today; before about mid-2023 they labelled
bar ends (last regular bar ``16:00:00``, last extended bar ``20:00:00``). A series with a bar
at 16:00 or 20:00 cannot be start-labelled (the adapter asks for regular hours), so it is
shifted back by one interval.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from app.dal.alphavantage.schemas import AlphaVantageMeta, AlphaVantageRow
from app.dal.errors import BadBars
from app.dal.frames import empty_bars, make_bars
from app.dal.http import Route
from app.domain.intervals import Interval

__all__ = ["parse_series"]


def parse_series(payload: dict[str, Any], key: str, interval: Interval, route: Route) -> pd.DataFrame:
    """Normalise the rows under ``key``.

    Raises:
        BadBars: the series key is missing or a row is malformed.
    """
    series = payload.get(key)
    if not isinstance(series, dict):
        found = ", ".join(sorted(payload)) or "nothing"
        raise BadBars(route.vendor, route.symbol, route.interval, f"payload has no {key!r} (found {found})")
    if not series:
        return empty_bars()
    try:
        meta = AlphaVantageMeta.model_validate(payload.get("Meta Data") or {})
        rows = [AlphaVantageRow.model_validate(v) for v in series.values()]
    except ValidationError as exc:
        raise BadBars(route.vendor, route.symbol, route.interval, f"malformed row: {exc}") from exc
    try:
        local = pd.DatetimeIndex(pd.to_datetime(list(series.keys()), format="ISO8601"))
    except ValueError as exc:
        raise BadBars(route.vendor, route.symbol, route.interval, f"bad timestamp: {exc}") from exc
    if interval.is_daily:
        stamps = local.normalize().tz_localize("UTC")
    else:
        minutes = local.hour * 60 + local.minute
        if np.isin(minutes, (16 * 60, 20 * 60)).any():
            local = local - interval.delta
        stamps = local.tz_localize(meta.time_zone(), ambiguous="NaT", nonexistent="NaT").tz_convert("UTC")
    return make_bars(
        stamps,
        [r.open for r in rows],
        [r.high for r in rows],
        [r.low for r in rows],
        [r.close for r in rows],
        [r.volume for r in rows],
    )
