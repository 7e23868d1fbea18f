"""Causal features and next-bar outcomes for the win-probability model.

Row ``t`` describes the decision taken at bar ``t``'s close and uses bars ``0..t`` only: the
DAL's signals (causal by construction), the strategy's side, the Beta prior's ``p`` and ``b``
(which count outcomes completed strictly before ``t``) and the regime. Price levels never
enter: every feature is a ratio, a return or a bounded score, so one model serves symbols of
any price.

The label of row ``t`` is the outcome of holding the side from ``close[t]`` to
``close[t+1]``: 1 for a gain, 0 otherwise. Only bars with a side (long or short) and a next
bar are samples; a flat bar has nothing to win or lose.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from app.errors import InputError

__all__ = [
    "FEATURE_NAMES",
    "REGIME_CODES",
    "FeatureSet",
    "build_features",
    "feature_hash",
    "next_bar_outcome",
]

REGIME_CODES = 7
"""Regime codes 0..6 (see ``app.decision.regimes.REGIME_LABELS``), one-hot encoded."""

_SIGNAL_FEATURES = ("return_1", "zscore", "breakout", "realised_vol", "momentum", "efficiency")

FEATURE_NAMES: tuple[str, ...] = (
    "side",
    "prior_prob",
    "prior_payoff",
    *_SIGNAL_FEATURES,
    "rsi_scaled",
    "atr_ratio",
    "close_vs_sma_fast",
    "close_vs_sma_slow",
    "sma_fast_vs_slow",
    *(f"regime_{code}" for code in range(REGIME_CODES)),
)


@dataclass(frozen=True, slots=True)
class FeatureSet:
    """Feature rows, labels and the bar positions they come from."""

    features: np.ndarray
    """(samples x len(FEATURE_NAMES)) float64; NaN where a signal is still warming up."""
    labels: np.ndarray
    """(samples,) int8 outcomes (1 win, 0 loss or flat move)."""
    rows: np.ndarray
    """(samples,) int64: the bar index of each sample, increasing."""
    prior_prob: np.ndarray
    """(samples,) the Beta prior's p on the same rows, for comparison."""

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def feature_hash(names: tuple[str, ...] = FEATURE_NAMES) -> str:
    """A short, stable hash of the feature list (changes when a feature is added or reordered)."""
    return hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]


def next_bar_outcome(close: np.ndarray, side: np.ndarray) -> np.ndarray:
    """``side[t] * (close[t+1] / close[t] - 1)`` per bar; NaN on the last bar."""
    close = np.asarray(close, dtype=np.float64)
    out = np.full(close.shape[0], np.nan)
    if close.shape[0] > 1:
        out[:-1] = np.asarray(side, dtype=np.float64)[:-1] * (close[1:] / close[:-1] - 1.0)
    return out


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = numerator / denominator - 1.0
    return np.where(np.isfinite(out), out, np.nan)


def _signal_columns(signals: pd.DataFrame, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The named columns as float64 arrays (missing values NaN).

    One conversion of the whole frame when every column is numeric (a few microseconds for the
    router's one-row frame, where selecting columns one by one costs far more); column by column
    otherwise. The values are the same either way.
    """
    labels = list(signals.columns)
    if len(set(labels)) == len(labels):
        try:
            matrix = signals.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError):
            pass
        else:
            return {name: matrix[:, labels.index(name)] for name in names}
    return {name: signals[name].to_numpy(dtype=np.float64, na_value=np.nan) for name in names}


def build_features(
    close: np.ndarray,
    signals: pd.DataFrame,
    side: np.ndarray,
    prior_prob: np.ndarray,
    prior_payoff: np.ndarray,
    regime_code: np.ndarray,
    *,
    with_labels: bool = True,
) -> FeatureSet:
    """Features for every bar with a side (and, with ``with_labels``, a next bar).

    With ``with_labels=False`` every bar is a row (labels are then meaningless zeros): that is
    how the router scores the newest bar.

    Raises:
        InputError: the inputs do not have one row per bar, or a signal column is missing.
    """
    close = np.asarray(close, dtype=np.float64)
    n = close.shape[0]
    arrays = {
        "side": np.asarray(side, dtype=np.float64),
        "prior_prob": np.asarray(prior_prob, dtype=np.float64),
        "prior_payoff": np.asarray(prior_payoff, dtype=np.float64),
        "regime_code": np.asarray(regime_code, dtype=np.int64),
    }
    for name, values in arrays.items():
        if values.shape != (n,):
            raise InputError(f"{name} has shape {values.shape}, expected ({n},) like close")
    if len(signals) != n:
        raise InputError(f"signals have {len(signals)} rows for {n} bars")
    needed = (*_SIGNAL_FEATURES, "rsi", "atr", "sma_fast", "sma_slow")
    missing = [column for column in needed if column not in signals.columns]
    if missing:
        raise InputError(f"signals lack the model's columns: {', '.join(missing)}")

    signal_values = _signal_columns(signals, needed)

    def column(name: str) -> np.ndarray:
        return signal_values[name]

    sma_fast = column("sma_fast")
    sma_slow = column("sma_slow")
    regime = np.clip(arrays["regime_code"], 0, REGIME_CODES - 1)
    one_hot = np.zeros((n, REGIME_CODES))
    one_hot[np.arange(n), regime] = 1.0
    matrix = np.column_stack(
        [
            arrays["side"],
            arrays["prior_prob"],
            arrays["prior_payoff"],
            *(column(name) for name in _SIGNAL_FEATURES),
            column("rsi") / 100.0,
            _ratio(column("atr"), close) + 1.0,
            _ratio(close, sma_fast),
            _ratio(close, sma_slow),
            _ratio(sma_fast, sma_slow),
            one_hot,
        ]
    )
    outcome = next_bar_outcome(close, arrays["side"])
    keep = (arrays["side"] != 0.0) & np.isfinite(outcome) if with_labels else np.ones(n, dtype=bool)
    rows = np.flatnonzero(keep).astype(np.int64)
    labels = (np.nan_to_num(outcome[rows], nan=0.0) > 0.0).astype(np.int8)
    return FeatureSet(
        features=np.ascontiguousarray(matrix[rows]),
        labels=labels,
        rows=rows,
        prior_prob=arrays["prior_prob"][rows],
    )
