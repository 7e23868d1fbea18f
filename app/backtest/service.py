"""Run one backtest end to end: DAL fetch -> signals + regimes -> decisions -> engine -> outputs.

The CLI (``ai-trader backtest run``, ``python -m app.backtest.run_breakout``) and the API
(``POST /backtests/run``) build one :class:`BacktestRequest` and call :func:`run_request`
with the process's :class:`BacktestDeps` (from the composition root); they only parse input
and render the returned :class:`BacktestRun`.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.backtest.engine import STATUS_RUINED, BacktestResult, EngineConfig, run_backtest, status_message
from app.backtest.frames import (
    MANIFEST_NAME,
    BlobFrames,
    FrameRecord,
    FrameSource,
    append_manifest,
    write_frame,
)
from app.config import Settings
from app.dal import FetchResult, MarketData
from app.decision import compute_regimes, compute_signals
from app.decision.pipeline import DecisionFrame, decide
from app.domain.intervals import get_interval
from app.errors import ConfigError, InputError, StorageError
from app.risk.sizing import RiskConfig, SizingMethod
from app.strategies import get_strategy
from app.validation import StrictFlag, check_date_range, check_finite

if TYPE_CHECKING:
    from app.storage.db import Database

__all__ = [
    "MAX_WARMUP_BARS",
    "BacktestDeps",
    "BacktestRequest",
    "BacktestRun",
    "BacktestSummary",
    "build_frame",
    "check_backtest_request",
    "check_backtest_values",
    "run_request",
    "summary_json",
]

log = logging.getLogger("app.backtest")

MAX_DEBUG_DECISIONS = 2_000
DEFAULT_WARMUP_BARS = 250
MAX_WARMUP_BARS = 100_000
"""Most warm-up bars a run may ask for (the API's bound too)."""
"""History fetched before ``start`` so indicators, regimes and priors are formed on the first
traded bar (250 daily bars fill the regime rule's volatility baseline)."""


def _as_utc(when: date | datetime) -> pd.Timestamp:
    stamp = pd.Timestamp(when)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def warmup_start(start: date | datetime, interval: str, bars: int) -> date | datetime:
    """A start early enough to hold ``bars`` bars of ``interval`` before ``start``.

    Counts calendar days generously (weekends, holidays, 6.5-hour sessions), so the vendor
    returns at least ``bars`` bars when it has that much history.
    """
    if bars <= 0:
        return start
    minutes = get_interval(interval).minutes
    sessions = bars if minutes >= 1440 else math.ceil(bars * minutes / 390) + 1
    return start - timedelta(days=math.ceil(sessions * 366 / 250) + 10)


_TRADE_NUMBERS = ("qty", "entry_price", "exit_price", "pnl")


SYMBOL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9.\-^=_/:]{0,31}$"


class BacktestRequest(BaseModel):
    """One backtest's parameters: the body of ``POST /backtests/run`` and the CLI's flags.

    Field names are the CLI flags without their leading dashes (``--dal-vendor`` ->
    ``dal_vendor``); the CLI-only ``--data-path`` and ``--no-cache`` are arguments of
    :func:`run_request`, never accepted over HTTP.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    symbol: Annotated[str, Field(min_length=1, max_length=32, pattern=SYMBOL_PATTERN)]
    start: date | datetime
    end: date | datetime
    strategy: Annotated[str, Field(min_length=1, max_length=64)]
    params: dict[str, Any] = Field(default_factory=dict)
    dal_vendor: Annotated[str, Field(min_length=1, max_length=32)] = "synthetic"
    dal_interval: Annotated[str, Field(min_length=1, max_length=16)] = "1Day"
    use_probabilistic: StrictFlag = False
    risk_agent: SizingMethod = "all_in"
    risk_agent_fraction: Annotated[float, Field(json_schema_extra={"exclusiveMinimum": 0, "maximum": 1})] = (
        0.5
    )
    regime_aware_sizing: StrictFlag = False
    allow_short: StrictFlag = False
    commission: Annotated[float, Field(ge=0, lt=1)] = 0.0
    slippage_bps: Annotated[float, Field(ge=0, lt=10_000)] = 0.0
    fill: Literal["next_open", "close"] = "next_open"
    initial_cash: Annotated[float, Field(gt=0)] = 10_000.0
    warmup_bars: Annotated[int, Field(ge=0, le=MAX_WARMUP_BARS)] = DEFAULT_WARMUP_BARS

    @field_validator("symbol")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.strip().upper()

    @field_validator("risk_agent_fraction")
    @classmethod
    def _fraction(cls, value: float) -> float:
        if not 0.0 < value <= 1.0:
            raise ValueError(f"risk agent fraction must be in (0, 1], got {value}")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> BacktestRequest:
        if isinstance(self.start, datetime) != isinstance(self.end, datetime):
            raise ValueError("start and end must both be dates or both be timestamps")
        if self.end < self.start:
            raise ValueError("end is before start")
        return self


class BacktestTrade(BaseModel):
    entry_time: str
    exit_time: str
    side: str
    qty: float
    entry_price: float
    exit_price: float
    pnl: float


class BacktestSummary(BaseModel):
    """What ``POST /backtests/run`` returns and ``run_breakout --json`` prints (the CLI adds
    ``published``, the events per hub, with ``--publish``)."""

    run_id: str
    symbol: str
    strategy: str
    params: dict[str, Any]
    vendor: str
    interval: str
    bars: int
    signals: int
    regimes: int
    risk_agent: str
    num_trades: int
    trades: list[BacktestTrade]
    final_equity: float
    total_return: float
    cagr: float | None
    sharpe: float | None
    sortino: float | None
    max_drawdown: float
    win_rate: float | None
    exposure: float
    prob_frame_path: str
    prob_frame_blob_uri: str | None
    prob_frame_blob_error: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestDeps:
    """The process's clients a backtest uses (built once by ``app.bootstrap.Container``).

    Attributes:
        market_data: where bars come from (cached).
        risk_defaults: sizing defaults from settings (cap, regime multipliers); each run
            replaces the agent, fraction and flags it asks for.
        frames: where frames are published besides ``frames_dir`` (``None``: not published).
        database: where runs are recorded; ``None`` records nothing (``BACKTEST_NO_SAVE``).
            Its schema is migrated by ``ai-trader db upgrade``/``up``/API start-up, not here.
    """

    market_data: MarketData
    risk_defaults: RiskConfig
    frames: BlobFrames | None = None
    database: Database | None = None


@dataclass(frozen=True, slots=True)
class BacktestRun:
    """The outcome of :func:`run_request`."""

    run_id: str
    request: BacktestRequest
    fetch: FetchResult
    signals: pd.DataFrame
    regimes: pd.DataFrame
    decisions: DecisionFrame
    result: BacktestResult
    frame: FrameRecord
    out_dir: Path | None
    recorded: bool


def build_frame(
    bars: pd.DataFrame,
    signals: pd.DataFrame,
    regimes: pd.DataFrame,
    decisions: DecisionFrame,
    equity: pd.Series,
) -> pd.DataFrame:
    """Merge bars, signals, regime, priors, sizing, position and equity into one frame."""
    merged = bars.copy()
    for column in signals.columns:
        if column not in merged.columns:
            merged[column] = signals[column].to_numpy()
    merged["regime"] = decisions.regime.astype(str)
    merged["regime_code"] = np.asarray(decisions.regime_code, dtype=np.int8)
    merged["prob"] = decisions.prob
    merged["payoff"] = decisions.payoff
    merged["frac"] = decisions.frac
    merged["position"] = decisions.position
    merged["target"] = decisions.target
    merged["equity"] = equity.to_numpy()
    return merged


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def summary_json(run: BacktestRun) -> dict[str, Any]:
    """The run as the JSON object ``--json`` prints."""
    req = run.request
    metrics = run.result.metrics
    tr = run.result.trades
    entry_times = [pd.Timestamp(x).isoformat() for x in tr["entry_time"]]
    exit_times = [pd.Timestamp(x).isoformat() for x in tr["exit_time"]]
    sides = [str(x) for x in tr["side"]]
    columns = {name: tr[name].to_numpy(dtype=np.float64).tolist() for name in _TRADE_NUMBERS}
    trades = [
        {
            "entry_time": entry_times[i],
            "exit_time": exit_times[i],
            "side": sides[i],
            **{name: columns[name][i] for name in _TRADE_NUMBERS},
        }
        for i in range(len(tr))
    ]
    return {
        "run_id": run.run_id,
        "symbol": run.fetch.symbol,
        "strategy": req.strategy,
        "params": get_strategy(req.strategy, req.params).params(),
        "vendor": run.fetch.vendor,
        "interval": run.fetch.interval,
        "bars": len(run.fetch.bars),
        "signals": len(run.signals),
        "regimes": len(run.regimes),
        "risk_agent": req.risk_agent,
        "num_trades": run.result.num_trades,
        "trades": trades,
        "final_equity": metrics["final_equity"],
        "total_return": metrics["total_return"],
        "cagr": _finite(metrics["cagr"]),
        "sharpe": _finite(metrics["sharpe"]),
        "sortino": _finite(metrics["sortino"]),
        "max_drawdown": metrics["max_drawdown"],
        "win_rate": _finite(metrics["win_rate"]),
        "exposure": metrics["exposure"],
        "prob_frame_path": run.frame.path,
        "prob_frame_blob_uri": run.frame.blob_path,
        "prob_frame_blob_error": run.frame.blob_error,
    }


def _log_decisions(decisions: DecisionFrame, risk: RiskConfig) -> None:
    if not log.isEnabledFor(logging.DEBUG):
        return
    n = len(decisions)
    first = max(0, n - MAX_DEBUG_DECISIONS)
    if first:
        log.debug("decision log: showing the last %d of %d bars", MAX_DEBUG_DECISIONS, n)
    cap = min(risk.fraction, risk.max_position_fraction) if risk.agent != "all_in" else 1.0
    for i in range(first, n):
        log.debug(
            "decision %s regime=%s position=%+d prob=%.4f payoff=%.4f frac=%.4f cap=%.4f",
            decisions.index[i].isoformat()
            if hasattr(decisions.index[i], "isoformat")
            else decisions.index[i],
            decisions.regime[i],
            int(decisions.position[i]),
            decisions.prob[i],
            decisions.payoff[i],
            decisions.frac[i],
            cap,
        )


def _stage_outputs(out_dir: Path, result: BacktestResult) -> Path:
    """Write trades and equity into a hidden folder beside ``out_dir``; return that folder."""
    staging = out_dir.with_name(f".{out_dir.name}.tmp")
    try:
        staging.mkdir(parents=True, exist_ok=False)
        result.trades.to_csv(staging / "trades.csv", index=False)
        result.equity.rename_axis("timestamp").to_csv(staging / "equity.csv")
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise StorageError(
            f"cannot write backtest outputs to {out_dir.parent} (BACKTEST_OUT_DIR): {exc.strerror or exc}"
        ) from exc
    return staging


def _finish_outputs(staging: Path, out_dir: Path, summary: dict[str, Any]) -> None:
    """Add ``summary.json`` and move the staged folder to ``out_dir`` in one rename."""
    try:
        (staging / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
        staging.rename(out_dir)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise StorageError(
            f"cannot write backtest outputs to {out_dir.parent} (BACKTEST_OUT_DIR): {exc.strerror or exc}"
        ) from exc


def _record(database: Database, run: BacktestRun, source: FrameSource, summary: dict[str, Any]) -> None:
    from app.storage.repositories.backtest_runs import BacktestRunRecord, BacktestRunsRepository

    metrics = {k: v for k, v in summary.items() if k not in ("trades", "params", "run_id")}
    BacktestRunsRepository(database).add(
        BacktestRunRecord(
            run_id=run.run_id,
            source=source,
            symbol=run.fetch.symbol,
            strategy=run.request.strategy,
            vendor=run.fetch.vendor,
            interval=run.fetch.interval,
            params=summary["params"],
            metrics=metrics,
            frame_path=run.frame.path,
        )
    )


def check_backtest_request(request: BacktestRequest) -> None:
    """Refuse what no run can use: dates outside the market range, non-finite money, huge warm-ups.

    Raises:
        InputError: naming the field and its bound.
    """
    check_backtest_values(
        start=request.start,
        end=request.end,
        warmup_bars=request.warmup_bars,
        initial_cash=request.initial_cash,
        commission=request.commission,
        slippage_bps=request.slippage_bps,
        risk_agent_fraction=request.risk_agent_fraction,
    )


def check_backtest_values(
    *, start: date | datetime, end: date | datetime, warmup_bars: int, **money: float
) -> None:
    """:func:`check_backtest_request` on plain values (the CLI checks its flags with it first,
    so each problem is named the same way however the run was asked for)."""
    check_date_range(start, end)
    for name, value in money.items():
        check_finite(name, float(value))
    if money.get("initial_cash", 1.0) <= 0:
        raise InputError(f"initial_cash must be above 0; got {money['initial_cash']!r}")
    if not 0 <= warmup_bars <= MAX_WARMUP_BARS:
        raise InputError(f"warm-up must be 0 to {MAX_WARMUP_BARS:,} bars; got {warmup_bars:,}")


def run_request(
    settings: Settings,
    request: BacktestRequest,
    deps: BacktestDeps,
    *,
    source: FrameSource = "cli",
    data_path: str | None = None,
    use_cache: bool = True,
) -> BacktestRun:
    """Fetch, decide, simulate, write the frame and outputs, and record the run.

    The frame goes to ``settings.frames_dir`` and, with ``deps.frames``, to the data
    container too (a blob failure is logged and returned as ``frame.blob_error``); summary,
    trades and equity to ``BACKTEST_OUT_DIR/<run id>/`` (default
    ``<ARTIFACTS_DIR>/backtests/<run id>/``); the run is recorded in ``backtest_runs``
    through ``deps.database`` unless ``BACKTEST_NO_SAVE`` is set. ``data_path`` (the ``file``
    vendor's input) and ``use_cache`` are the CLI's ``--data-path`` and ``--no-cache``.

    Raises:
        InputError: bad strategy, parameter, vendor, dates, or a range with no bars.
        StorageError: outputs or the database record cannot be written.
    """
    if not settings.BACKTEST_NO_SAVE and deps.database is None:
        raise ConfigError("backtest runs are recorded (BACKTEST_NO_SAVE is off) but no database was given")
    check_backtest_request(request)
    strategy = get_strategy(request.strategy, request.params)
    risk = replace(
        deps.risk_defaults,
        agent=request.risk_agent,
        fraction=request.risk_agent_fraction,
        regime_aware=request.regime_aware_sizing,
        use_probabilistic=request.use_probabilistic,
        allow_short=request.allow_short,
    )
    engine = EngineConfig(
        fill=request.fill,
        commission=request.commission,
        slippage_bps=request.slippage_bps,
        initial_cash=request.initial_cash,
    )
    if type(request.start) is type(request.end) and request.end < request.start:
        raise InputError(f"end {request.end} is before start {request.start}")
    if request.warmup_bars < 0:
        raise InputError(f"warm-up must be zero or more bars, got {request.warmup_bars}")
    fetched = deps.market_data.fetch(
        request.dal_vendor,
        request.symbol,
        warmup_start(request.start, request.dal_interval, request.warmup_bars),
        request.end,
        interval=request.dal_interval,
        use_cache=use_cache,
        path=data_path,
    )
    history = fetched.bars
    # Indicators, regimes and priors are computed over the warm-up history too (all causal),
    # then everything is cut to the requested window, so only [start, end] is traded.
    all_signals = compute_signals(history)
    all_regimes = compute_regimes(history, all_signals)
    all_decisions = decide(history, all_signals, all_regimes, strategy, risk)
    first = int(history.index.searchsorted(_as_utc(request.start)))
    bars, signals, regimes = history.iloc[first:], all_signals.iloc[first:], all_regimes.iloc[first:]
    decisions = all_decisions.from_position(first)
    if len(bars) == 0:
        raise InputError(
            f"no {fetched.interval} bars for {fetched.symbol} from {fetched.vendor} "
            f"between {request.start} and {request.end}"
        )
    fetched = replace(fetched, bars=bars)
    log.info(
        "DAL fetch ok: vendor=%s symbol=%s interval=%s bars=%d signals=%d regimes=%d warmup_bars=%d "
        "from_cache=%s",
        fetched.vendor,
        fetched.symbol,
        fetched.interval,
        len(bars),
        len(signals),
        len(regimes),
        first,
        fetched.from_cache,
    )
    if not len(bars) == len(signals) == len(regimes):
        raise InputError(f"DAL returned {len(bars)} bars, {len(signals)} signals and {len(regimes)} regimes")
    _log_decisions(decisions, risk)
    result = run_backtest(bars, decisions.target, engine)
    if result.status == STATUS_RUINED:
        log.warning("backtest: %s", status_message(result.status))
    run_id = uuid.uuid4().hex
    out_root = settings.BACKTEST_OUT_DIR or (settings.ARTIFACTS_DIR / "backtests")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir = out_root / f"{stamp}_{fetched.symbol}_{request.strategy}_{run_id[:8]}"
    # Outputs are staged first, the frame written next, and the manifest line appended only
    # once the frame and the outputs are in place: a failed write leaves nothing behind.
    staging = _stage_outputs(out_dir, result)
    try:
        frame = write_frame(
            build_frame(bars, signals, regimes, decisions, result.equity),
            frames_dir=settings.frames_dir,
            symbol=fetched.symbol,
            strategy=request.strategy,
            vendor=fetched.vendor,
            interval=fetched.interval,
            source=source,
            run_id=run_id,
            extra={"risk_agent": request.risk_agent, "params": strategy.params()},
            blob=deps.frames,
            register=False,
        )
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    run = BacktestRun(
        run_id=run_id,
        request=request,
        fetch=fetched,
        signals=signals,
        regimes=regimes,
        decisions=decisions,
        result=result,
        frame=frame,
        out_dir=out_dir,
        recorded=not settings.BACKTEST_NO_SAVE,
    )
    summary = summary_json(run)
    try:
        _finish_outputs(staging, out_dir, summary)
        append_manifest(settings.frames_dir / MANIFEST_NAME, frame.to_json())
    except BaseException:
        Path(frame.path).unlink(missing_ok=True)
        raise
    log.info("prob_frame_path=%s rows=%d", frame.path, frame.rows)
    if frame.blob_path is not None:
        log.info("prob_frame_blob_uri=%s", frame.blob_path)
    log.info(
        "backtest done: trades=%d final_equity=%.2f total_return=%.4f out_dir=%s",
        result.num_trades,
        result.final_equity,
        result.metrics["total_return"],
        out_dir,
    )
    if not settings.BACKTEST_NO_SAVE and deps.database is not None:
        _record(deps.database, run, source, summary)
    return run
