"""``ai-trader backtest portfolio``: many symbols on one pool of cash, end to end.

Fetches every symbol through the DAL (with a warm-up history, like a single-symbol backtest),
runs :func:`app.backtest.portfolio.backtest_portfolio` (the live loop's decision pipeline,
sizing and the governor's caps as :class:`PortfolioLimits`; by default the governor's own
whole-order refusals, symbols in the listed order, or ``cap_mode="scale"``), and writes one frame — total
equity and gross exposure, plus each symbol's target weight and holdings — registered in
the frames manifest with source ``portfolio``.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.backtest.frames import FrameRecord, write_frame
from app.backtest.portfolio import PortfolioLimits, PortfolioResult, backtest_portfolio
from app.backtest.service import (
    DEFAULT_WARMUP_BARS,
    MAX_WARMUP_BARS,
    SYMBOL_PATTERN,
    BacktestDeps,
    resolve_prior,
    warmup_start,
)
from app.config import Settings
from app.errors import InputError
from app.models.selection import PRIOR_MODEL_HELP, check_prior_model
from app.risk.sizing import SizingMethod
from app.strategies import get_strategy
from app.validation import StrictFlag

__all__ = [
    "MAX_PORTFOLIO_SYMBOLS",
    "PortfolioRequest",
    "PortfolioRun",
    "portfolio_frame",
    "run_portfolio_request",
]

log = logging.getLogger(__name__)

MAX_PORTFOLIO_SYMBOLS = 1_000


class PortfolioRequest(BaseModel):
    """One portfolio backtest: symbols, strategy, window, sizing and the governor's caps."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    symbols: Annotated[list[str], Field(min_length=1, max_length=MAX_PORTFOLIO_SYMBOLS)]
    start: date | datetime
    end: date | datetime
    strategy: Annotated[str, Field(min_length=1, max_length=64)]
    params: dict[str, Any] = Field(default_factory=dict)
    dal_vendor: Annotated[str, Field(min_length=1, max_length=32)] = "synthetic"
    dal_interval: Annotated[str, Field(min_length=1, max_length=16)] = "1Day"
    use_probabilistic: StrictFlag = False
    risk_agent: SizingMethod = "fractional_kelly"
    risk_agent_fraction: Annotated[float, Field(gt=0, le=1)] = 0.5
    regime_aware_sizing: StrictFlag = False
    allow_short: StrictFlag = False
    prior_model: Annotated[str, Field(min_length=1, max_length=80, description=PRIOR_MODEL_HELP)] = "beta"
    commission: Annotated[float, Field(ge=0, lt=1)] = 0.0
    slippage_bps: Annotated[float, Field(ge=0, lt=10_000)] = 0.0
    fill: Literal["next_open", "close"] = "next_open"
    initial_cash: Annotated[float, Field(gt=0)] = 100_000.0
    warmup_bars: Annotated[int, Field(ge=0, le=MAX_WARMUP_BARS)] = DEFAULT_WARMUP_BARS
    max_weight: Annotated[float, Field(gt=0, le=1)] = 0.25
    max_gross: Annotated[float, Field(gt=0, le=10)] = 1.0
    max_positions: Annotated[int, Field(ge=1, le=100_000)] = 20
    max_drawdown: Annotated[float, Field(gt=0, le=1)] = 1.0
    min_trade_notional: Annotated[float, Field(ge=0)] = 0.0
    cap_mode: Literal["governor", "scale"] = "governor"
    """``governor``: the live governor refuses a whole order that would breach a cap, symbols in
    the listed (routing) order; ``scale``: weights clipped, cut and scaled to fit."""

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, value: list[str]) -> list[str]:
        import re

        pattern = re.compile(SYMBOL_PATTERN)
        clean = [s.strip().upper() for s in value]
        bad = [s for s in clean if not pattern.match(s)]
        if bad:
            raise ValueError(f"invalid symbols: {', '.join(repr(s) for s in bad[:5])}")
        if len(set(clean)) != len(clean):
            raise ValueError("a symbol is listed twice")
        return clean

    @field_validator("prior_model")
    @classmethod
    def _prior_model(cls, value: str) -> str:
        try:
            return check_prior_model(value)
        except InputError as exc:
            raise ValueError(str(exc)) from exc

    @model_validator(mode="after")
    def _ordered(self) -> PortfolioRequest:
        if isinstance(self.start, datetime) != isinstance(self.end, datetime):
            raise ValueError("start and end must both be dates or both be timestamps")
        if self.end < self.start:
            raise ValueError("end is before start")
        return self

    def limits(self) -> PortfolioLimits:
        return PortfolioLimits(
            max_weight=self.max_weight,
            max_gross=self.max_gross,
            max_positions=self.max_positions,
            max_drawdown=self.max_drawdown,
            min_trade_notional=self.min_trade_notional,
            allow_short=self.allow_short,
            cap_mode=self.cap_mode,
        )


@dataclass(frozen=True, slots=True)
class PortfolioRun:
    """The outcome of :func:`run_portfolio_request`."""

    run_id: str
    request: PortfolioRequest
    result: PortfolioResult
    frame: FrameRecord
    summary: dict[str, Any]


def portfolio_frame(result: PortfolioResult) -> pd.DataFrame:
    """Total equity and gross exposure, then ``target:<SYMBOL>`` and ``holdings:<SYMBOL>`` per
    symbol, and in governor mode ``refused:<SYMBOL>`` (the refusal code of that decision bar,
    0 for none; :data:`~app.backtest.portfolio.REFUSAL_REASONS`)."""
    columns: dict[str, np.ndarray] = {"equity": result.equity, "gross_exposure": result.gross_exposure}
    targets = result.targets if result.targets is not None else np.full(result.holdings.shape, np.nan)
    for k, symbol in enumerate(result.symbols):
        columns[f"target:{symbol}"] = targets[:, k]
    for k, symbol in enumerate(result.symbols):
        columns[f"holdings:{symbol}"] = result.holdings[:, k]
    if result.refusals is not None:
        for k, symbol in enumerate(result.symbols):
            columns[f"refused:{symbol}"] = result.refusals[:, k]
    return pd.DataFrame(columns, index=result.index)


def run_portfolio_request(
    settings: Settings,
    request: PortfolioRequest,
    deps: BacktestDeps,
    *,
    use_cache: bool = True,
) -> PortfolioRun:
    """Fetch every symbol, run the shared-cash portfolio backtest, write and register its frame.

    ``deps`` are a single-symbol backtest's (:class:`~app.backtest.service.BacktestDeps`); a
    portfolio run records nothing in the database, so ``deps.database`` is not used.

    Raises:
        InputError: bad strategy or parameter, a symbol with no bars in the window.
        StorageError: the frame or the manifest cannot be written.
    """
    strategy = get_strategy(request.strategy, request.params)
    risk = replace(
        deps.risk_defaults,
        agent=request.risk_agent,
        fraction=request.risk_agent_fraction,
        regime_aware=request.regime_aware_sizing,
        use_probabilistic=request.use_probabilistic,
        allow_short=request.allow_short,
    )
    prior = resolve_prior(deps.prior_models, request.strategy, request.prior_model)
    begin = warmup_start(request.start, request.dal_interval, request.warmup_bars)
    bars: dict[str, pd.DataFrame] = {}
    vendors: set[str] = set()
    for symbol in request.symbols:
        fetched = deps.market_data.fetch(
            request.dal_vendor, symbol, begin, request.end, interval=request.dal_interval, use_cache=use_cache
        )
        if len(fetched.bars) == 0:
            raise InputError(f"no {request.dal_interval} bars for {symbol} from {request.dal_vendor}")
        bars[symbol] = fetched.bars
        vendors.add(fetched.vendor)
    start = pd.Timestamp(request.start)
    trade_from = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
    result = backtest_portfolio(
        bars,
        strategy,
        risk,
        request.limits(),
        initial_cash=request.initial_cash,
        commission=request.commission,
        slippage_bps=request.slippage_bps,
        fill_close=request.fill == "close",
        trade_from=trade_from,
        probability=prior.model,
    )
    run_id = uuid.uuid4().hex
    vendor = "+".join(sorted(vendors))
    pnl = result.pnl_by_symbol()
    summary: dict[str, Any] = {
        "run_id": run_id,
        "strategy": request.strategy,
        "params": strategy.params(),
        "symbols": list(result.symbols),
        "vendor": vendor,
        "interval": request.dal_interval,
        "bars": len(result.index),
        "initial_cash": result.initial_cash,
        "final_equity": result.final_equity,
        "total_return": result.total_return,
        "max_drawdown": result.max_drawdown,
        "fills": int(result.fills.shape[0]),
        "reducing_since": None if result.reducing_since is None else result.reducing_since.isoformat(),
        "cap_mode": request.cap_mode,
        "refused": result.refusal_counts(),
        "pnl_by_symbol": pnl,
        "prior": prior.as_dict(),
        "limits": _limits(request),
    }
    frame = write_frame(
        portfolio_frame(result),
        frames_dir=settings.frames_dir,
        symbol="PORTFOLIO",
        strategy=request.strategy,
        vendor=vendor,
        interval=request.dal_interval,
        source="portfolio",
        run_id=run_id,
        filename=f"portfolio_{request.strategy}_{run_id[:12]}.parquet",
        extra={
            "symbols": list(result.symbols),
            "params": strategy.params(),
            "risk_agent": request.risk_agent,
            "prior": prior.as_dict(),
            "final_equity": result.final_equity,
        },
        blob=deps.frames,
    )
    summary["frame_path"] = frame.path
    log.info(
        "portfolio backtest done: symbols=%d bars=%d final_equity=%.2f total_return=%.4f frame=%s",
        len(result.symbols),
        len(result.index),
        result.final_equity,
        result.total_return,
        frame.path,
    )
    return PortfolioRun(run_id=run_id, request=request, result=result, frame=frame, summary=summary)


def _limits(request: PortfolioRequest) -> dict[str, Any]:
    limits = request.limits()
    return {
        "max_weight": limits.max_weight,
        "max_gross": limits.max_gross,
        "max_positions": limits.max_positions,
        "max_drawdown": limits.max_drawdown,
        "min_trade_notional": limits.min_trade_notional,
        "cap_mode": limits.cap_mode,
    }
