"""Property: changing a future bar never changes an earlier signal or regime."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from app.dal import make_bars
from app.decision import compute_regimes, compute_signals
from app.decision.regimes import RegimeConfig


def _bars(closes: list[float], spreads: list[float]) -> pd.DataFrame:
    c = np.asarray(closes)
    o = np.concatenate([[c[0]], c[:-1]])
    s = np.asarray(spreads)
    stamps = pd.date_range("2023-01-02", periods=len(c), freq="D", tz="UTC")
    return make_bars(
        stamps, o, np.maximum(o, c) * (1 + s), np.minimum(o, c) * (1 - s), c, np.full(len(c), 1e6)
    )


price = st.floats(min_value=1.0, max_value=1000.0, allow_nan=False, allow_infinity=False)
spread = st.floats(min_value=0.0, max_value=0.05, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    n=st.integers(min_value=2, max_value=120),
)
def test_changing_future_bars_leaves_past_outputs_unchanged(data: st.DataObject, n: int) -> None:
    closes = data.draw(st.lists(price, min_size=n, max_size=n))
    spreads = data.draw(st.lists(spread, min_size=n, max_size=n))
    cut = data.draw(st.integers(min_value=1, max_value=n - 1))
    new_tail = data.draw(st.lists(price, min_size=n - cut, max_size=n - cut))
    cfg = RegimeConfig(vol_baseline=30, min_baseline=3)

    before = _bars(closes, spreads)
    after = _bars(closes[:cut] + new_tail, spreads)
    sig_a, sig_b = compute_signals(before), compute_signals(after)
    reg_a, reg_b = compute_regimes(before, sig_a, cfg), compute_regimes(after, sig_b, cfg)

    pd.testing.assert_frame_equal(sig_a.iloc[:cut], sig_b.iloc[:cut])
    pd.testing.assert_frame_equal(reg_a.iloc[:cut], reg_b.iloc[:cut])
    # and a prefix computed alone equals the prefix of the whole
    pd.testing.assert_frame_equal(compute_signals(before.iloc[:cut]), sig_a.iloc[:cut])
    pd.testing.assert_frame_equal(compute_regimes(before.iloc[:cut], sig_a.iloc[:cut], cfg), reg_a.iloc[:cut])
