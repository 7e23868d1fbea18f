"""The regression gate: compare this run's ratios and trades with the last recorded ones.

``bench/results.json`` (committed) holds the last accepted run: for each ratio key the
ai-trader speed-up over its peer (or its share of a raw baseline; higher is better) and for
each trade key a fingerprint of the trades a backtest produced. A run fails when a ratio falls
by more than :data:`TOLERANCE` of its recorded value or when a fingerprint differs. Keys that
are new in this run, or absent from it, are not compared.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "RESULTS",
    "TOLERANCE",
    "Recorded",
    "check",
    "load",
    "merge",
    "save",
    "trades_fingerprint",
]

RESULTS = Path(__file__).resolve().parent / "results.json"
TOLERANCE = 0.10


@dataclass(frozen=True)
class Recorded:
    """Ratios and trade fingerprints of one run, with the stamp of where they were measured."""

    ratios: dict[str, float] = field(default_factory=dict)
    trades: dict[str, str] = field(default_factory=dict)
    stamp: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "stamp": self.stamp,
            "ratios": dict(sorted(self.ratios.items())),
            "trades": dict(sorted(self.trades.items())),
        }


def trades_fingerprint(rows: Sequence[Sequence[float]]) -> str:
    """A short stable digest of trade rows (bars, side; prices to 10 significant digits)."""
    text = ";".join(",".join(f"{float(v):.10g}" for v in row) for row in rows)
    return f"{len(rows)}:{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def _parse(data: Any, source: str) -> Recorded:
    if not isinstance(data, Mapping):
        raise ValueError(f"{source}: expected a JSON object, got {type(data).__name__}")
    ratios = data.get("ratios", {})
    trades = data.get("trades", {})
    stamp = data.get("stamp", {})
    if not isinstance(ratios, Mapping) or not isinstance(trades, Mapping) or not isinstance(stamp, Mapping):
        raise ValueError(f"{source}: 'ratios', 'trades' and 'stamp' must be objects")
    clean_ratios: dict[str, float] = {}
    for key, value in ratios.items():
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value <= 0
        ):
            raise ValueError(f"{source}: ratio {key!r} must be a positive finite number, got {value!r}")
        clean_ratios[str(key)] = float(value)
    clean_trades: dict[str, str] = {}
    for key, value in trades.items():
        if not isinstance(value, str) or not value:
            raise ValueError(f"{source}: trades {key!r} must be a non-empty string, got {value!r}")
        clean_trades[str(key)] = value
    return Recorded(clean_ratios, clean_trades, dict(stamp))


def load(path: Path = RESULTS) -> Recorded:
    """The recorded run at ``path`` (an empty record when the file does not exist yet)."""
    if not path.exists():
        return Recorded()
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    return _parse(data, str(path))


def check(previous: Recorded, current: Recorded, tolerance: float = TOLERANCE) -> list[str]:
    """Failures of ``current`` against ``previous``: one message per fallen ratio or changed trade list."""
    if not 0.0 <= tolerance < 1.0:
        raise ValueError(f"tolerance must be in [0, 1), got {tolerance}")
    failures = []
    for key, value in sorted(current.ratios.items()):
        old = previous.ratios.get(key)
        if old is None:
            continue
        floor = old * (1.0 - tolerance)
        if not value >= floor:
            drop = 1.0 - value / old
            failures.append(
                f"ratio {key}: {value:.3g} is {drop:.0%} below the recorded {old:.3g}"
                f" (allowed: {tolerance:.0%})"
            )
    for key, fingerprint in sorted(current.trades.items()):
        old_fp = previous.trades.get(key)
        if old_fp is not None and old_fp != fingerprint:
            failures.append(f"trades {key}: {fingerprint} differs from the recorded {old_fp}")
    return failures


def merge(previous: Recorded, current: Recorded) -> Recorded:
    """``previous`` updated with every key of ``current`` (keys this run did not measure are kept)."""
    return Recorded(
        {**previous.ratios, **current.ratios},
        {**previous.trades, **current.trades},
        current.stamp or previous.stamp,
    )


def save(record: Recorded, path: Path = RESULTS) -> None:
    path.write_text(json.dumps(record.as_json(), indent=2) + "\n")
