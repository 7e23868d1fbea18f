"""``POST /backtests/run``: one backtest through the same service as the CLI.

The response is the object ``run_breakout --json`` prints, including ``prob_frame_path``; the
frame is registered in the manifest with source ``api`` so the dashboard's frame viewer lists it.
On an Azure blob backend the frame is also published to the data container:
``prob_frame_blob_uri`` is its ``blob://`` URI, or ``null`` with the reason in
``prob_frame_blob_error`` when publishing failed (the run itself still succeeds).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.concurrency import run_in_threadpool

from app.backtest.service import DEFAULT_WARMUP_BARS, BacktestRequest, run_request, summary_json
from app.risk.sizing import SizingMethod
from app.validation import StrictFlag

__all__ = ["BacktestRunBody", "router"]

router = APIRouter(prefix="/backtests", tags=["backtests"])


class BacktestRunBody(BaseModel):
    """The CLI's flags as a JSON body (same names, without the leading dashes)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    symbol: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9.\-/]+$")]
    start: date | datetime
    end: date | datetime
    strategy: Annotated[str, Field(min_length=1, max_length=64)]
    params: dict[str, Any] = Field(default_factory=dict)
    dal_vendor: str = "synthetic"
    dal_interval: str = "1Day"
    use_probabilistic: StrictFlag = False
    risk_agent: SizingMethod = "all_in"
    risk_agent_fraction: Annotated[float, Field(gt=0, le=1)] = 0.5
    regime_aware_sizing: StrictFlag = False
    allow_short: StrictFlag = False
    commission: Annotated[float, Field(ge=0, lt=1)] = 0.0
    slippage_bps: Annotated[float, Field(ge=0, lt=10_000)] = 0.0
    fill: Literal["next_open", "close"] = "next_open"
    initial_cash: Annotated[float, Field(gt=0)] = 10_000.0
    warmup_bars: Annotated[int, Field(ge=0, le=100_000)] = DEFAULT_WARMUP_BARS

    @model_validator(mode="after")
    def _ordered(self) -> BacktestRunBody:
        if isinstance(self.start, datetime) != isinstance(self.end, datetime):
            raise ValueError("start and end must both be dates or both be timestamps")
        if self.end < self.start:
            raise ValueError("end is before start")
        return self

    def to_request(self) -> BacktestRequest:
        return BacktestRequest(
            symbol=self.symbol.upper(),
            start=self.start,
            end=self.end,
            strategy=self.strategy,
            params=self.params,
            vendor=self.dal_vendor,
            interval=self.dal_interval,
            risk_agent=self.risk_agent,
            risk_fraction=self.risk_agent_fraction,
            regime_aware=self.regime_aware_sizing,
            use_probabilistic=self.use_probabilistic,
            allow_short=self.allow_short,
            commission=self.commission,
            slippage_bps=self.slippage_bps,
            fill=self.fill,
            initial_cash=self.initial_cash,
            warmup_bars=self.warmup_bars,
        )


@router.post("/run")
async def run_backtest(body: BacktestRunBody, request: Request) -> dict[str, Any]:
    """Run one backtest (DAL -> strategy -> sizing -> engine) and return its summary."""
    settings = request.app.state.services.settings
    run = await run_in_threadpool(run_request, settings, body.to_request(), source="api")
    return summary_json(run)
