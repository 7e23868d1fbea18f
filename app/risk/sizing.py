"""Position sizing: Fractional Kelly, fixed fraction and all-in, optionally regime-aware.

Every method returns the fraction of equity to commit per bar, ``frac >= 0``:

* ``fractional_kelly``: ``fraction x max(0, p - (1 - p) / b)`` (Kelly's optimal bet for a
  win probability ``p`` and payoff ratio ``b``, scaled down by ``fraction``). With
  ``kelly_confidence = c > 0`` and the Beta posterior of ``p`` known (concentration ``n``),
  Kelly uses the posterior's lower credible bound instead of its mean:
  ``p_c = BetaInv(1 - c; p x n, (1 - p) x n)``, the value the true win rate exceeds with
  probability ``c``. A bucket with few outcomes has a wide posterior, so its bets shrink
  until evidence accumulates; with many outcomes ``p_c`` approaches ``p``.
* ``fixed_fraction``: ``fraction``.
* ``all_in``: ``1.0`` (the whole of cash; the convention peers use for reference backtests).

With ``regime_aware`` the fraction is multiplied by the bar's regime multiplier (1.0 for a
regime the table does not list). Then caps apply: ``fractional_kelly`` and
``fixed_fraction`` never exceed ``fraction`` nor ``max_position_fraction``
(``RISK_MAX_POSITION_FRACTION``), and nothing exceeds 1 or drops below 0. ``all_in`` is
exempt from ``max_position_fraction`` on purpose: it is the sizing the peer cross-checks
assume, not a live risk setting.

Orders turn those fractions into money: :func:`order_notional` is the cash value of the order
that moves a position from its old side to its new one (what the live router sends), and
:func:`quantity_for_notional` the whole-step quantity a notional buys at a price (what the
simulated broker fills). Both are pure and round down, so an order never exceeds its size.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from types import MappingProxyType
from typing import Literal, get_args

import numpy as np

from app.errors import ConfigError, InputError
from app.risk.priors import PriorConfig

__all__ = [
    "CENT",
    "DEFAULT_REGIME_MULTIPLIERS",
    "QTY_STEP",
    "SIZING_METHODS",
    "RiskConfig",
    "SizingMethod",
    "all_in",
    "credible_lower_bound",
    "fixed_fraction",
    "fractional_kelly",
    "kelly_fraction",
    "order_notional",
    "parse_regime_multipliers",
    "position_value",
    "quantity_for_notional",
    "regime_multipliers_for",
    "size_positions",
    "to_cents",
]

CENT = Decimal("0.01")
"""Order notionals are whole cents."""

QTY_STEP = Decimal("0.000001")
"""Smallest fractional share quantity an order is rounded to."""

SizingMethod = Literal["fractional_kelly", "fixed_fraction", "all_in"]
SIZING_METHODS: tuple[str, ...] = get_args(SizingMethod)

DEFAULT_REGIME_MULTIPLIERS: Mapping[str, float] = MappingProxyType(
    {
        "warmup": 0.5,
        "trend_up_low_vol": 1.0,
        "trend_up_high_vol": 0.6,
        "trend_down_low_vol": 1.0,
        "trend_down_high_vol": 0.6,
        "range_low_vol": 0.8,
        "range_high_vol": 0.5,
    }
)
"""Default ``--regime-aware-sizing`` multipliers: full size in calm trends, less in volatile
or directionless markets, half size while the regime model is still warming up."""


def kelly_fraction(p: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """Full Kelly ``max(0, p - (1 - p) / b)``; 0 where ``p`` or ``b`` is missing or ``b <= 0``."""
    p_arr = np.asarray(p, dtype=np.float64)
    b_arr = np.asarray(b, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = p_arr - (1.0 - p_arr) / b_arr
    ok = np.isfinite(raw) & (b_arr > 0)
    return np.where(ok, np.maximum(raw, 0.0), 0.0)


def credible_lower_bound(
    p: np.ndarray | float, concentration: np.ndarray | float, confidence: float
) -> np.ndarray:
    """The value a Beta(``p x n``, ``(1 - p) x n``) win rate exceeds with probability ``confidence``.

    ``confidence = 0`` returns ``p`` unchanged. NaN where ``p`` or ``n`` is missing or invalid.

    Raises:
        InputError: ``confidence`` is outside [0, 1).
    """
    if not 0.0 <= confidence < 1.0:
        raise InputError(f"kelly confidence must be in [0, 1), got {confidence}")
    p_arr = np.asarray(p, dtype=np.float64)
    if confidence == 0.0:
        return p_arr.copy()
    from scipy.special import betaincinv

    n_arr = np.asarray(concentration, dtype=np.float64)
    ok = np.isfinite(p_arr) & np.isfinite(n_arr) & (p_arr > 0.0) & (p_arr < 1.0) & (n_arr > 0.0)
    a = np.where(ok, p_arr * n_arr, 1.0)
    b = np.where(ok, (1.0 - p_arr) * n_arr, 1.0)
    return np.where(ok, np.asarray(betaincinv(a, b, 1.0 - confidence), dtype=np.float64), np.nan)


def fractional_kelly(
    p: np.ndarray | float,
    b: np.ndarray | float,
    fraction: float,
    max_position_fraction: float = 1.0,
    multiplier: np.ndarray | float = 1.0,
) -> np.ndarray:
    """``fraction x Kelly x multiplier``, capped to ``[0, min(fraction, max_position_fraction)]``."""
    raw = fraction * kelly_fraction(p, b) * np.asarray(multiplier, dtype=np.float64)
    return np.clip(raw, 0.0, min(fraction, max_position_fraction, 1.0))


def fixed_fraction(
    n: int, fraction: float, max_position_fraction: float = 1.0, multiplier: np.ndarray | float = 1.0
) -> np.ndarray:
    """``fraction x multiplier`` for ``n`` bars, capped to ``[0, min(fraction, max_position_fraction)]``."""
    raw = np.full(n, fraction, dtype=np.float64) * np.asarray(multiplier, dtype=np.float64)
    return np.clip(raw, 0.0, min(fraction, max_position_fraction, 1.0))


def all_in(n: int, multiplier: np.ndarray | float = 1.0) -> np.ndarray:
    """``1.0 x multiplier`` for ``n`` bars, within ``[0, 1]``."""
    raw = np.ones(n, dtype=np.float64) * np.asarray(multiplier, dtype=np.float64)
    return np.clip(raw, 0.0, 1.0)


def parse_regime_multipliers(text: str) -> dict[str, float]:
    """Parse ``"name=mult,name=mult"`` into a dict.

    Raises:
        ConfigError: a pair is malformed or a multiplier is not a number in [0, 1].
    """
    out: dict[str, float] = {}
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"RISK_REGIME_MULTIPLIERS: expected name=multiplier, got {item!r}")
        try:
            mult = float(value)
        except ValueError:
            raise ConfigError(
                f"RISK_REGIME_MULTIPLIERS: {name.strip()!r} has no numeric multiplier"
            ) from None
        if not 0.0 <= mult <= 1.0:
            raise ConfigError(f"RISK_REGIME_MULTIPLIERS: {name.strip()!r} must be in [0, 1], got {mult}")
        out[name.strip()] = mult
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskConfig:
    """How signals become sized positions; shared by backtests, sweeps and the live router.

    Attributes:
        agent: the sizing method (``--risk-agent``).
        fraction: the Kelly scale, or the fixed fraction (``--risk-agent-fraction``), in (0, 1].
        max_position_fraction: hard cap per position (``RISK_MAX_POSITION_FRACTION``).
        regime_aware: multiply by the regime's multiplier (``--regime-aware-sizing``).
        regime_multipliers: regime label -> multiplier in [0, 1].
        allow_short: keep short targets; otherwise they become flat (``--allow-short``).
        use_probabilistic: compute ``p`` and ``b`` even when the agent does not need them
            (``--use-probabilistic``); ``fractional_kelly`` always computes them.
        priors: parameters of :mod:`app.risk.priors`.
        kelly_confidence: 0 sizes Kelly on the posterior mean of ``p``; ``c`` in (0, 1) on
            the lower credible bound that the true ``p`` exceeds with probability ``c``.
    """

    agent: SizingMethod = "all_in"
    fraction: float = 0.5
    max_position_fraction: float = 0.25
    regime_aware: bool = False
    regime_multipliers: Mapping[str, float] = field(default_factory=lambda: DEFAULT_REGIME_MULTIPLIERS)
    allow_short: bool = False
    use_probabilistic: bool = False
    priors: PriorConfig = field(default_factory=PriorConfig)
    kelly_confidence: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.kelly_confidence < 1.0:
            raise InputError(f"kelly confidence must be in [0, 1), got {self.kelly_confidence}")
        if self.agent not in SIZING_METHODS:
            raise InputError(f"unknown risk agent {self.agent!r} (known: {', '.join(SIZING_METHODS)})")
        if not 0.0 < self.fraction <= 1.0:
            raise InputError(f"risk agent fraction must be in (0, 1], got {self.fraction}")
        if not 0.0 <= self.max_position_fraction <= 1.0:
            raise InputError(f"max position fraction must be in [0, 1], got {self.max_position_fraction}")
        for name, mult in self.regime_multipliers.items():
            if not 0.0 <= mult <= 1.0:
                raise InputError(f"regime multiplier for {name!r} must be in [0, 1], got {mult}")

    @property
    def needs_priors(self) -> bool:
        return self.use_probabilistic or self.agent == "fractional_kelly"


def regime_multipliers_for(labels: np.ndarray, table: Mapping[str, float]) -> np.ndarray:
    """Map each bar's regime label to its multiplier (1.0 when the table has no entry)."""
    uniques, inverse = np.unique(np.asarray(labels, dtype=object).astype(str), return_inverse=True)
    values = np.array([table.get(str(u), 1.0) for u in uniques], dtype=np.float64)
    return values[inverse] if len(values) else np.ones(len(labels), dtype=np.float64)


def size_positions(
    config: RiskConfig,
    p: np.ndarray,
    b: np.ndarray,
    regime_labels: np.ndarray | None = None,
    concentration: np.ndarray | None = None,
) -> np.ndarray:
    """Return the fraction of equity to commit per bar under ``config``.

    ``concentration`` is the Beta posterior's ``n`` per bar; with ``config.kelly_confidence``
    above 0, Kelly sizes on the credible lower bound of ``p`` (without it, on ``p`` itself:
    a calibrated model's probability carries no Beta posterior).
    """
    n = len(p)
    if config.kelly_confidence > 0.0 and concentration is not None:
        p = credible_lower_bound(p, concentration, config.kelly_confidence)
    multiplier: np.ndarray | float = 1.0
    if config.regime_aware and regime_labels is not None:
        multiplier = regime_multipliers_for(regime_labels, config.regime_multipliers)
    if config.agent == "fractional_kelly":
        return fractional_kelly(p, b, config.fraction, config.max_position_fraction, multiplier)
    if config.agent == "fixed_fraction":
        return fixed_fraction(n, config.fraction, config.max_position_fraction, multiplier)
    return all_in(n, multiplier)


def position_value(position: float, frac: float, equity: float) -> float:
    """Cash committed to a position: ``|position| x frac x equity`` (its side does not matter)."""
    return abs(position) * frac * equity


def to_cents(amount: float) -> Decimal:
    """``amount`` rounded down to whole cents; a non-finite amount is ``0``."""
    if not math.isfinite(amount):
        return Decimal(0)
    return Decimal(str(amount)).quantize(CENT, rounding=ROUND_DOWN)


def order_notional(
    *,
    equity: float,
    new_position: float,
    new_frac: float,
    old_position: float = 0.0,
    old_frac: float = 0.0,
    entry_price: float = math.nan,
    price: float = math.nan,
) -> Decimal:
    """Cash value, in whole cents rounded down, of the order that moves a position from
    ``old_position`` (opened at ``entry_price`` with ``old_frac`` of ``equity``) to
    ``new_position`` (``new_frac`` of ``equity``) at ``price``.

    The order closes what is held, marked from its entry price to ``price``, and opens the
    new position: ``|new| x new_frac x equity + |old| x old_frac x equity x price / entry_price``.
    With no old position (``old_position == 0``) only the opening leg counts. A result that
    is not finite (a missing price, a NaN fraction) is ``0``: no order.
    """
    opening = position_value(new_position, new_frac, equity)
    closing = 0.0
    if old_position != 0:
        closing = position_value(old_position, old_frac, equity) * price / entry_price
    return to_cents(opening + closing)


def quantity_for_notional(notional: Decimal, price: Decimal, step: Decimal = QTY_STEP) -> Decimal:
    """The quantity ``notional`` buys at ``price``, rounded down to a multiple of ``step``.

    Raises:
        InputError: ``price`` or ``step`` is not a positive finite number, or ``notional`` is
            not finite.
    """
    if not price.is_finite() or price <= 0:
        raise InputError(f"price must be a positive finite number, got {price}")
    if not step.is_finite() or step <= 0:
        raise InputError(f"quantity step must be a positive finite number, got {step}")
    if not notional.is_finite():
        raise InputError(f"notional must be finite, got {notional}")
    return (notional / price).quantize(step, rounding=ROUND_DOWN)
