"""run_request forms indicators on history before --start and trades only inside the window."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from pydantic import ValidationError

from app.backtest.service import BacktestRequest, run_request, warmup_start
from app.bootstrap import build_backtest_deps
from app.config import Settings


def _request(**overrides: object) -> BacktestRequest:
    values: dict[str, object] = {
        "symbol": "AAPL",
        "start": date(2023, 1, 3),
        "end": date(2023, 2, 3),
        "strategy": "momentum",
        "risk_agent": "fractional_kelly",
        "risk_agent_fraction": 0.4,
        "use_probabilistic": True,
        "regime_aware_sizing": True,
    }
    values.update(overrides)
    return BacktestRequest(**values)  # type: ignore[arg-type]


def test_warmup_history_forms_regimes_before_the_first_traded_bar(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(BACKTEST_NO_SAVE=True)
    deps = build_backtest_deps(settings)
    warm = run_request(settings, _request(), deps)
    cold = run_request(settings, _request(warmup_bars=0), deps)
    for run in (warm, cold):
        assert len(run.fetch.bars) == len(run.signals) == len(run.regimes) == 24  # business days
        assert run.fetch.bars.index[0].date() == date(2023, 1, 3)
        assert run.fetch.bars.index[-1].date() == date(2023, 2, 3)
        assert run.frame.rows == 24
    assert str(warm.regimes["regime"].iloc[0]) != "warmup"
    assert str(cold.regimes["regime"].iloc[0]) == "warmup"
    assert all(t >= warm.fetch.bars.index[0] for t in warm.result.trades["entry_time"])


def test_negative_warmup_is_refused() -> None:
    with pytest.raises(ValidationError, match="warmup_bars"):
        _request(warmup_bars=-1)


@pytest.mark.parametrize(
    ("interval", "bars", "earliest"),
    [("1Day", 250, date(2021, 12, 31)), ("5Min", 780, date(2022, 12, 13)), ("1Day", 0, date(2023, 1, 3))],
)
def test_warmup_start_reaches_back_far_enough(interval: str, bars: int, earliest: date) -> None:
    assert warmup_start(date(2023, 1, 3), interval, bars) <= earliest
