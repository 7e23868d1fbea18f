"""Edge validators shared by the API, the CLI and the sweep submission path.

Every request is checked here before anything runs: dates inside the range markets have,
windows no larger than the bar limit, finite numbers, config paths under their root, data
files under the roots the operator allows, blob URIs naming an allowed container. Each check
raises :class:`~app.errors.InputError` with a message that names the limit and never shows an
absolute server path or whether a refused path exists.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Strict

from app.errors import InputError

__all__ = [
    "MAX_DATE",
    "MAX_PATH_CHARS",
    "MIN_DATE",
    "FiniteFloat",
    "IsoDateTime",
    "MarketDate",
    "StrictFlag",
    "check_blob_uri",
    "check_container_name",
    "check_data_path",
    "check_date_range",
    "check_finite",
    "check_market_date",
    "check_path_text",
    "estimate_bars",
    "resolve_under",
]

MIN_DATE = date(1900, 1, 1)
"""Earliest date a request may name (no market data is older; date arithmetic stays in range)."""
MAX_DATE = date(2199, 12, 31)
"""Latest date a request may name."""
MAX_PATH_CHARS = 1024
"""Longest path or blob URI a client may send."""
_TRADING_MINUTES_PER_DAY = 390
_TRADING_DAYS_PER_YEAR = 252


def _day(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def check_market_date(name: str, value: date | datetime) -> date | datetime:
    """Refuse dates before :data:`MIN_DATE` or after :data:`MAX_DATE`."""
    if not MIN_DATE <= _day(value) <= MAX_DATE:
        raise InputError(f"{name} must be between {MIN_DATE} and {MAX_DATE}; got {_day(value)}")
    return value


def check_date_range(start: date | datetime, end: date | datetime | None) -> None:
    """Both ends inside the market range, and ``end`` not before ``start``."""
    check_market_date("start", start)
    if end is not None:
        check_market_date("end", end)


def _market_date(value: Any) -> Any:
    if isinstance(value, date):
        try:
            check_market_date("date", value)
        except InputError as exc:
            raise ValueError(str(exc)) from None
    return value


MarketDate = Annotated[date, AfterValidator(_market_date)]
"""A date between :data:`MIN_DATE` and :data:`MAX_DATE` (for pydantic models)."""


def check_finite(name: str, value: float) -> float:
    """Refuse NaN and infinities."""
    if not math.isfinite(value):
        raise InputError(f"{name} must be a finite number; got {value!r}")
    return value


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


FiniteFloat = Annotated[float, AfterValidator(_finite)]

StrictFlag = Annotated[bool, Strict()]
"""A JSON ``true``/``false`` only (not ``0``, ``1`` or ``"yes"``), as the OpenAPI type says."""


def _iso_text(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("must be an ISO 8601 date-time string, not a number")
    if isinstance(value, str):
        text = value.strip()
        if not text or text.lstrip("+-").replace(".", "", 1).isdigit():
            raise ValueError("must be an ISO 8601 date-time such as 2026-11-02T14:30:00Z, not a number")
    return value


IsoDateTime = Annotated[datetime, BeforeValidator(_iso_text)]
"""A date-time given as ISO 8601 text (pydantic would otherwise read ``0.5`` as a Unix time)."""


def estimate_bars(interval_minutes: int, start: date | datetime, end: date | datetime) -> int:
    """An upper estimate of the bars of one symbol between ``start`` and ``end``.

    Counts every weekday as a trading day of 6.5 hours (daily and longer bars: one per
    weekday), so the estimate is never below what a vendor returns.
    """
    days = max(0, (_day(end) - _day(start)).days) + 1
    weekdays = math.ceil(days * 5 / 7) + 1
    if interval_minutes >= 1440:
        return weekdays
    return weekdays * math.ceil(_TRADING_MINUTES_PER_DAY / interval_minutes)


def check_path_text(name: str, raw: str) -> str:
    """Refuse NUL and control characters and over-long paths before touching the file system."""
    if not raw or len(raw) > MAX_PATH_CHARS:
        raise InputError(f"{name} must be 1 to {MAX_PATH_CHARS} characters; got {len(raw)}")
    if any(ord(c) < 32 or ord(c) == 127 for c in raw):
        raise InputError(f"{name} contains a control character")
    return raw


def resolve_under(
    name: str, raw: str, roots: tuple[Path, ...], suffixes: tuple[str, ...], *, base: Path | None = None
) -> Path:
    """Resolve ``raw`` (relative to ``base``, default the first root) and require it under one of ``roots``.

    The message for a refused path is the same whether or not it exists, and names roots only
    by their folder name, never their absolute location.
    """
    check_path_text(name, raw)
    if not roots:
        raise InputError(f"{name} is not allowed here (no folder is allowed by the operator)")
    path = Path(raw)
    allowed = " or ".join(f"{root.name}/" for root in roots)
    refused = InputError(f"{name} must name a {'/'.join(suffixes)} file under {allowed}: {raw!r}")
    try:
        resolved = (path if path.is_absolute() else (base or roots[0]) / path).resolve()
    except (OSError, RuntimeError, ValueError):
        raise refused from None
    if resolved.suffix.lower() not in suffixes or not any(resolved.is_relative_to(r) for r in roots):
        raise refused
    try:
        is_file = resolved.is_file()
    except (OSError, ValueError):
        is_file = False
    if not is_file:
        raise InputError(f"{name} does not name a readable file under {allowed}: {raw!r}")
    return resolved


def check_data_path(raw: str, roots: tuple[Path, ...]) -> Path:
    """A data file (csv/parquet) under one of the operator's roots (``SWEEP_DATA_ROOTS``)."""
    return resolve_under("data_path", raw, roots, (".csv", ".parquet"))


def check_container_name(value: str) -> str:
    """Azure blob container rules: 3-63 lower-case letters, digits and single inner hyphens."""
    ok = 3 <= len(value) <= 63 and value[0].isalnum() and value[-1].isalnum()
    if not ok or not all(c.isascii() and (c.isalnum() or c == "-") for c in value):
        raise InputError(f"not a blob container name: {value!r}")
    if value != value.lower() or "--" in value:
        raise InputError(f"not a blob container name: {value!r}")
    return value


def check_blob_uri(raw: str, allowed_containers: tuple[str, ...], suffixes: tuple[str, ...]) -> str:
    """``blob://<container>/<key>`` with an allowed container and a key without ``..`` or ``//``."""
    check_path_text("config_blob", raw)
    if not raw.startswith("blob://"):
        raise InputError(f"config_blob must be blob://<container>/<file>; got {raw!r}")
    container, _, key = raw.removeprefix("blob://").partition("/")
    check_container_name(container)
    if container not in allowed_containers:
        raise InputError(
            f"config_blob: container {container!r} is not allowed (allowed: {', '.join(allowed_containers)})"
        )
    parts = key.split("/")
    if not key or any(p in ("", ".", "..") for p in parts) or "\\" in key:
        raise InputError(f"config_blob: {key!r} is not a plain blob path (no '..', no empty segments)")
    if not key.lower().endswith(suffixes):
        raise InputError(f"config_blob must name a {'/'.join(suffixes)} file; got {raw!r}")
    return raw
