"""Automatic look-ahead and recursive-bias checks for any strategy.

Two properties every strategy must have, checked by replaying history:

* **No look-ahead.** The decision at bar ``t`` (side, priors, size, target, and the signals
  and regimes it sees) is the same whether or not bars after ``t`` exist. Checked by
  recomputing the whole decision pipeline on prefixes of the history and comparing each
  prefix's rows with the full run's.
* **No recursive bias beyond the warm-up.** Dropping history before bar ``s`` changes the
  strategy's side at bar ``t`` only while ``t < s + warmup``. Checked on the strategy's
  sides (the Beta priors deliberately count every earlier outcome, so they are excluded).

A failure names the first bar and the column that differ, so an author sees where their
code peeks ahead or depends on where the data starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from app.decision.pipeline import DecisionFrame, decide
from app.decision.regimes import compute_regimes
from app.decision.signals import compute_signals
from app.errors import InputError
from app.risk.sizing import RiskConfig
from app.strategies.base import Strategy

__all__ = ["Divergence", "StrategyCheck", "check_strategy", "default_warmup"]

_PIPELINE_COLUMNS = ("position", "prob", "payoff", "frac", "target", "regime_code")


@dataclass(frozen=True, slots=True)
class Divergence:
    """The first place two runs that must agree do not."""

    kind: str
    """``lookahead`` or ``recursive``."""
    cut: int
    """The prefix end (look-ahead) or the truncation start (recursive), as a bar index."""
    bar: int
    timestamp: str
    column: str
    expected: float
    got: float

    def describe(self) -> str:
        if self.kind == "lookahead":
            where = f"with bars only up to #{self.cut}"
        else:
            where = f"with history starting at bar #{self.cut}"
        return (
            f"{self.kind}: {self.column} at bar #{self.bar} ({self.timestamp}) is {self.got!r} {where} "
            f"but {self.expected!r} on the full history"
        )


@dataclass(frozen=True, slots=True)
class StrategyCheck:
    """The outcome of :func:`check_strategy`."""

    strategy: str
    params: dict[str, object]
    bars: int
    warmup: int
    prefixes_checked: int
    truncations_checked: int
    divergences: list[Divergence] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.divergences

    def summary(self) -> str:
        if self.ok:
            return (
                f"{self.strategy}: ok — no look-ahead over {self.prefixes_checked} prefixes, no recursive "
                f"bias past a {self.warmup}-bar warm-up over {self.truncations_checked} truncations"
            )
        return f"{self.strategy}: FAILED — " + "; ".join(d.describe() for d in self.divergences)


def default_warmup(strategy: Strategy) -> int:
    """The strategy's declared warm-up, else three times its longest integer window (min 50).

    A strategy declares one by defining ``warmup_bars()``.
    """
    declared = getattr(strategy, "warmup_bars", None)
    if callable(declared):
        return int(declared())
    windows = [int(value) for value in strategy.params().values() if isinstance(value, int)]
    return max(50, 3 * max(windows, default=0))


def _pipeline(bars: pd.DataFrame, strategy: Strategy, risk: RiskConfig) -> tuple[DecisionFrame, pd.DataFrame]:
    signals = compute_signals(bars)
    regimes = compute_regimes(bars, signals)
    return decide(bars, signals, regimes, strategy, risk), signals


def _first_difference(expected: np.ndarray, got: np.ndarray) -> int | None:
    same = (expected == got) | (np.isnan(expected) & np.isnan(got))
    bad = np.flatnonzero(~same)
    return int(bad[0]) if bad.size else None


def _columns(frame: DecisionFrame, signals: pd.DataFrame) -> dict[str, np.ndarray]:
    out = {name: np.asarray(getattr(frame, name), dtype=np.float64) for name in _PIPELINE_COLUMNS}
    for name in signals.columns:
        out[f"signal:{name}"] = signals[name].to_numpy(dtype=np.float64, na_value=np.nan)
    return out


def check_strategy(
    strategy: Strategy,
    bars: pd.DataFrame,
    *,
    risk: RiskConfig | None = None,
    warmup: int | None = None,
    checks: int = 8,
) -> StrategyCheck:
    """Check ``strategy`` for look-ahead and recursive bias on ``bars``.

    ``checks`` prefixes (and as many truncations) are spread evenly over the bars after the
    warm-up.

    Raises:
        InputError: too few bars for the warm-up and the checks.
    """
    risk = risk or RiskConfig(agent="fractional_kelly", use_probabilistic=True)
    warmup = default_warmup(strategy) if warmup is None else warmup
    n = len(bars)
    if warmup < 0 or checks < 1:
        raise InputError("warmup must be >= 0 and checks >= 1")
    if n < 2 * warmup + 2 * checks + 2:
        raise InputError(
            f"{n} bars are too few to check a {warmup}-bar warm-up (need {2 * warmup + 2 * checks + 2})"
        )
    full, full_signals = _pipeline(bars, strategy, risk)
    reference = _columns(full, full_signals)
    index = bars.index
    divergences: list[Divergence] = []

    cuts = np.unique(np.linspace(warmup, n - 2, checks).astype(np.int64))
    for cut in cuts:
        frame, signals = _pipeline(bars.iloc[: cut + 1], strategy, risk)
        for name, values in _columns(frame, signals).items():
            bad = _first_difference(reference[name][: cut + 1], values)
            if bad is not None:
                divergences.append(
                    Divergence(
                        "lookahead",
                        int(cut),
                        bad,
                        str(index[bad]),
                        name,
                        float(reference[name][bad]),
                        float(values[bad]),
                    )
                )
                break
        if divergences:
            break

    starts = np.unique(np.linspace(1, n - warmup - 2, checks).astype(np.int64))
    sides = reference["position"]
    for start in starts:
        truncated = bars.iloc[start:]
        signals = compute_signals(truncated)
        regimes = compute_regimes(truncated, signals)
        side = np.sign(np.nan_to_num(strategy.target_positions(truncated, signals, regimes), nan=0.0))
        if not risk.allow_short:
            side = np.maximum(side, 0.0)
        bad = _first_difference(sides[start + warmup :], side[warmup:])
        if bad is not None:
            bar = int(start + warmup + bad)
            divergences.append(
                Divergence(
                    "recursive",
                    int(start),
                    bar,
                    str(index[bar]),
                    "position",
                    float(sides[bar]),
                    float(side[bar - start]),
                )
            )
            break
    return StrategyCheck(
        strategy=strategy.name,
        params=strategy.params(),
        bars=n,
        warmup=warmup,
        prefixes_checked=len(cuts),
        truncations_checked=len(starts),
        divergences=divergences,
    )
