"""Walk-forward plans: windows never overlap, tests follow trains, the newest bars are tested."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.backtest.sweeps.walkforward import plan_walk_forward, stitch_returns
from app.errors import InputError


@given(
    bars=st.integers(50, 3_000),
    folds=st.integers(1, 12),
    train=st.integers(2, 600),
    gap=st.integers(0, 5),
    anchored=st.booleans(),
)
@settings(max_examples=300, deadline=None)
def test_plans_are_well_formed(bars: int, folds: int, train: int, gap: int, anchored: bool) -> None:
    layout = "anchored" if anchored else "rolling"
    try:
        plan = plan_walk_forward(bars, folds=folds, train_bars=train, layout=layout, gap=gap)
    except InputError:
        assert (bars - train - gap) // folds < 2
        return
    assert len(plan.folds) == folds
    assert plan.oos_stop == bars  # the newest bars are always tested
    for k, fold in enumerate(plan.folds):
        assert 0 <= fold.train_start < fold.train_stop
        assert fold.test_start == fold.train_stop + gap  # test follows train, gap left out
        assert fold.test_stop - fold.test_start >= 2
        if layout == "rolling":
            assert fold.train_stop - fold.train_start == train
        else:
            assert fold.train_start == 0
        if k:
            assert fold.test_start == plan.folds[k - 1].test_stop  # consecutive, no overlap


def test_rolling_and_anchored_by_hand() -> None:
    rolling = plan_walk_forward(100, folds=3, train_bars=40, test_bars=20)
    assert [(f.train_start, f.train_stop, f.test_start, f.test_stop) for f in rolling.folds] == [
        (0, 40, 40, 60),
        (20, 60, 60, 80),
        (40, 80, 80, 100),
    ]
    anchored = plan_walk_forward(100, folds=3, train_bars=40, test_bars=20, layout="anchored")
    assert [(f.train.start, f.train.stop) for f in anchored.folds] == [(0, 40), (0, 60), (0, 80)]


def test_stitching_keeps_time_order_and_checks_lengths() -> None:
    plan = plan_walk_forward(100, folds=2, train_bars=40, test_bars=30)
    stitched = stitch_returns(plan, [np.full(30, 0.01), np.full(30, -0.01)])
    assert stitched.shape == (60,)
    assert stitched[0] == 0.01 and stitched[-1] == -0.01
    with pytest.raises(InputError, match="fold 1"):
        stitch_returns(plan, [np.zeros(30), np.zeros(29)])
    with pytest.raises(InputError, match="cannot hold"):
        plan_walk_forward(100, folds=5, train_bars=95)
    with pytest.raises(InputError, match="layout"):
        plan_walk_forward(100, folds=2, train_bars=10, layout="sideways")  # type: ignore[arg-type]
