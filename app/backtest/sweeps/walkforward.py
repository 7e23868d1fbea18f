"""Walk-forward windows: choose on a train window, score on the next test window, stitch.

Two layouts over ``n`` bars, both measured in bars and cut from the end of the data so the
most recent bars are always tested:

* ``rolling``: every train window has the same length ``train_bars``.
* ``anchored``: every train window starts at bar 0 (it grows fold by fold).

Test windows are consecutive, never overlap, and each starts right after its train window
(plus an optional ``gap`` of bars left out between them, so a label or an indicator that
straddles the boundary cannot leak). The out-of-sample record is the concatenation of the
test windows in time order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from app.errors import InputError

__all__ = ["WalkForwardFold", "WalkForwardPlan", "plan_walk_forward", "stitch_returns"]

Layout = Literal["rolling", "anchored"]


@dataclass(frozen=True, slots=True)
class WalkForwardFold:
    """One fold: bars ``[train_start, train_stop)`` choose, bars ``[test_start, test_stop)`` score."""

    index: int
    train_start: int
    train_stop: int
    test_start: int
    test_stop: int

    @property
    def train(self) -> slice:
        return slice(self.train_start, self.train_stop)

    @property
    def test(self) -> slice:
        return slice(self.test_start, self.test_stop)


@dataclass(frozen=True, slots=True)
class WalkForwardPlan:
    """The folds of one walk-forward over ``bars`` bars."""

    layout: Layout
    bars: int
    folds: tuple[WalkForwardFold, ...]

    @property
    def oos_start(self) -> int:
        return self.folds[0].test_start

    @property
    def oos_stop(self) -> int:
        return self.folds[-1].test_stop


def plan_walk_forward(
    bars: int,
    *,
    folds: int,
    train_bars: int,
    test_bars: int | None = None,
    layout: Layout = "rolling",
    gap: int = 0,
) -> WalkForwardPlan:
    """Cut ``bars`` bars into ``folds`` train/test folds.

    ``test_bars`` defaults to an equal share of what is left after the first train window.

    Raises:
        InputError: the counts are not positive, or the data is too short for them.
    """
    if folds < 1 or train_bars < 2 or gap < 0:
        raise InputError(
            f"walk-forward needs folds >= 1, train_bars >= 2 and gap >= 0 (got {folds}, {train_bars}, {gap})"
        )
    if layout not in ("rolling", "anchored"):
        raise InputError(f"walk-forward layout must be rolling or anchored, got {layout!r}")
    available = bars - train_bars - gap
    if test_bars is None:
        test_bars = available // folds
    if test_bars < 2 or folds * test_bars > available:
        raise InputError(
            f"{bars} bars cannot hold {folds} test windows of {test_bars} bars after a "
            f"{train_bars}-bar train window and a {gap}-bar gap"
        )
    first_test = bars - folds * test_bars
    out = []
    for k in range(folds):
        test_start = first_test + k * test_bars
        train_stop = test_start - gap
        train_start = 0 if layout == "anchored" else train_stop - train_bars
        out.append(WalkForwardFold(k, train_start, train_stop, test_start, test_start + test_bars))
    return WalkForwardPlan(layout=layout, bars=bars, folds=tuple(out))


def stitch_returns(plan: WalkForwardPlan, returns_by_fold: list[np.ndarray]) -> np.ndarray:
    """Concatenate each fold's test-window returns (of its chosen set) into one OOS series.

    Raises:
        InputError: a fold's returns do not cover exactly its test window.
    """
    if len(returns_by_fold) != len(plan.folds):
        raise InputError(f"{len(returns_by_fold)} return series for {len(plan.folds)} folds")
    pieces = []
    for fold, returns in zip(plan.folds, returns_by_fold, strict=True):
        values = np.asarray(returns, dtype=np.float64)
        length = fold.test_stop - fold.test_start
        if values.shape != (length,):
            raise InputError(f"fold {fold.index}: {values.shape[0]} returns for a {length}-bar test window")
        pieces.append(values)
    return np.concatenate(pieces)
