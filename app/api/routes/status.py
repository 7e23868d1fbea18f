"""What the operator console reads: ``GET /status`` and the lists behind its pages.

``GET /status`` is the console's status bar in one call: the trading state (today the kill
switch mapped to ``ACTIVE`` / ``HALTED``; ``REDUCING`` is reserved for the governor), each
consumer's lag, the scheduler's last and next job, the sweep consumer's health and how fresh
the data is. Every section is read on its own: one that fails carries an ``error`` line and
the others are still answered, so a database outage never hides the scheduler's state.

The other routes list what the pages show: kill-switch changes and refusals, today's jobs on
the session clock, recorded backtest runs, sweep jobs with their ok/failed counts, and the
sweep configs an operator can enqueue.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path as FsPath
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from app.api.deps import ContainerDep
from app.api.routes.orders import DecimalText
from app.backtest.sweeps.jobs import SweepJobPublic
from app.bootstrap import Container
from app.config import Settings
from app.errors import AiTraderError, InputError
from app.storage.repositories.backtest_runs import BacktestRunsRepository
from app.workers.consumer_status import LAG_LIMIT_S, read_status
from app.workers.schedule import EXCHANGE_ZONE, JOBS_BY_NAME, is_session, occurrences
from app.workers.scheduler import Ledger

__all__ = ["router", "trading_state"]

router = APIRouter(tags=["console"])

PACIFIC = ZoneInfo("America/Los_Angeles")
SWEEP_STALL_S = 300.0
"""A job queued this long with nothing dispatched or running means the sweep consumer is not taking work."""

TradingState = Literal["ACTIVE", "REDUCING", "HALTED", "UNKNOWN"]


def trading_state(kill_switch_active: bool, state: str | None = None) -> TradingState:
    """The console's state: HALTED whenever the switch is on, else the governor's state
    (ACTIVE or REDUCING); a state it does not know is UNKNOWN, never ACTIVE."""
    if kill_switch_active:
        return "HALTED"
    value = (state or "ACTIVE").upper()
    if value == "ACTIVE":
        return "ACTIVE"
    if value == "REDUCING":
        return "REDUCING"
    if value == "HALTED":
        return "HALTED"
    return "UNKNOWN"


class TradingStateView(BaseModel):
    state: TradingState
    reason: str | None = None
    actor: str | None = None
    since: datetime | None = None
    latched_reason: str | None = None
    trips_total: int = 0
    error: str | None = None


class ConsumerView(BaseModel):
    name: str
    hub: str
    group: str
    state: str  # running, stopped or never_ran
    lag_seconds: float | None = None
    events_behind: int | None = None
    reported_at: datetime | None = None
    healthy: bool
    detail: str | None = None


class ConsumersView(BaseModel):
    items: list[ConsumerView]
    error: str | None = None


class ScheduledRunView(BaseModel):
    job: str
    session: date
    due: datetime
    status: str | None = None
    finished_at: datetime | None = None
    duration_s: float | None = None


class SchedulerView(BaseModel):
    last: ScheduledRunView | None = None
    next: ScheduledRunView | None = None
    error: str | None = None


class SweepHealthView(BaseModel):
    health: Literal["idle", "working", "stalled", "unknown"]
    counts: dict[str, int]
    oldest_queued_s: float | None = None
    detail: str | None = None
    error: str | None = None


class DataView(BaseModel):
    as_of: datetime
    newest_order_at: datetime | None = None
    newest_backtest_at: datetime | None = None
    error: str | None = None


class LimitUseItem(BaseModel):
    name: str
    setting: str
    description: str
    limit: float | None = Field(description="The configured value; null when the limit is not enforced.")
    measure: float = Field(description="What the limit measures, on the book now.")
    use: float | None = Field(description="measure / limit (1.0 = at the limit); null when not enforced.")
    near: bool = Field(description="At or above 80 % of the limit (the governor's warning level).")
    symbol: str | None = None


class SymbolExposureView(BaseModel):
    symbol: str
    qty: DecimalText
    avg_cost: DecimalText
    mark: DecimalText = Field(description="The symbol's newest fill price (the governor's mark).")
    exposure: DecimalText
    unrealised: DecimalText
    weight: DecimalText = Field(description="|exposure| / equity.")


class LimitUseView(BaseModel):
    """Each risk limit's use on the book now (no order in flight), as the governor measures it."""

    as_of: datetime
    equity: DecimalText | None = None
    high_water_mark: DecimalText | None = None
    unrealised: DecimalText | None = None
    realised_today: DecimalText | None = None
    items: list[LimitUseItem] = []
    symbols: list[SymbolExposureView] = []
    error: str | None = None


class StatusView(BaseModel):
    """The console's status bar."""

    trading: TradingStateView
    limits: LimitUseView
    consumers: ConsumersView
    scheduler: SchedulerView
    sweeps: SweepHealthView
    data: DataView


def _line(exc: Exception) -> str:
    return str(exc) if isinstance(exc, AiTraderError) else f"{type(exc).__name__}: {exc}"


def _trading(services: Container) -> TradingStateView:
    try:
        status = services.kill_switch.status()
    except AiTraderError as exc:
        return TradingStateView(state="UNKNOWN", error=_line(exc))
    return TradingStateView(
        state=trading_state(status.active, status.state),
        reason=status.reason,
        actor=status.actor,
        since=status.updated_at,
        latched_reason=status.latched_reason,
        trips_total=status.trips_total,
    )


def _consumers(services: Container, now: datetime) -> ConsumersView:
    from app.execution.factory import broker_label
    from app.workers.order_consumer import CONSUMER_NAME
    from app.workers.venue_updates import WORKER_NAME

    settings = services.settings
    watched = [(CONSUMER_NAME, settings.EH_HUB_ORDERS, settings.EH_CONSUMER_GROUP)]
    if settings.BROKER != "simulated":  # a venue's trade updates stream (the simulator has none)
        watched.append((WORKER_NAME, settings.EH_HUB_ORDERS, broker_label(settings)))
    items: list[ConsumerView] = []
    try:
        for name, hub, group in watched:
            status = read_status(services.blob, settings.BLOB_CONTAINER_DATA, name, hub, group)
            if status is None:
                items.append(ConsumerView(name=name, hub=hub, group=group, state="never_ran", healthy=True))
                continue
            reported = datetime.fromisoformat(status.updated_at)
            age = (now - reported).total_seconds()
            silent = status.state == "running" and age > max(LAG_LIMIT_S, 3 * status.heartbeat_s)
            detail = None
            if status.degraded:
                detail = f"{status.lag_seconds:.0f} s behind (limit {LAG_LIMIT_S:.0f} s)"
            elif silent:
                detail = f"no report for {age:.0f} s"
            items.append(
                ConsumerView(
                    name=name,
                    hub=hub,
                    group=group,
                    state=status.state,
                    lag_seconds=round(status.lag_seconds, 3),
                    events_behind=status.events_behind,
                    reported_at=reported,
                    healthy=detail is None,
                    detail=detail,
                )
            )
    except (AiTraderError, ValueError, TypeError) as exc:
        return ConsumersView(items=items, error=_line(exc))
    return ConsumersView(items=items)


def _ledger(settings: Settings) -> Ledger:
    return Ledger(settings.DATA_DIR / "schedule" / "ledger.jsonl")


def _finished(entry: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(entry["finished_at"]))
    except (KeyError, ValueError):
        return None


def _duration(entry: dict[str, Any]) -> float | None:
    detail = entry.get("detail")
    value = detail.get("duration_s") if isinstance(detail, dict) else None
    return float(value) if isinstance(value, int | float) else None


def _scheduler(settings: Settings, now: datetime) -> SchedulerView:
    try:
        ledger = _ledger(settings)
        entries = ledger.entries()
        last = None
        if entries:
            newest = max(entries, key=lambda e: str(e.get("finished_at", "")))
            last = ScheduledRunView(
                job=str(newest.get("job")),
                session=date.fromisoformat(str(newest.get("session"))),
                due=datetime.fromisoformat(str(newest.get("due"))),
                status=str(newest.get("status")),
                finished_at=_finished(newest),
                duration_s=_duration(newest),
            )
        done = {str(e["key"]) for e in entries}
        upcoming = next((o for o in occurrences(settings, now) if o.key not in done), None)
        following = None
        if upcoming is not None:
            following = ScheduledRunView(job=upcoming.job.name, session=upcoming.session, due=upcoming.due)
    except (AiTraderError, OSError, ValueError) as exc:
        return SchedulerView(error=_line(exc))
    return SchedulerView(last=last, next=following)


def _sweep_health(services: Container, now: datetime) -> SweepHealthView:
    try:
        listing = services.sweep_jobs.list_jobs("queued", 500)
    except AiTraderError as exc:
        return SweepHealthView(health="unknown", counts={}, error=_line(exc))
    counts = listing.counts
    busy = counts.get("dispatched", 0) + counts.get("running", 0)
    oldest = min((job.created_at for job in listing.items), default=None)
    oldest_s = None
    if oldest is not None:
        oldest = oldest if oldest.tzinfo is not None else oldest.replace(tzinfo=UTC)
        oldest_s = round((now - oldest).total_seconds(), 1)
    if oldest_s is not None and oldest_s > SWEEP_STALL_S and busy == 0:
        return SweepHealthView(
            health="stalled",
            counts=counts,
            oldest_queued_s=oldest_s,
            detail=f"a job has waited {oldest_s:.0f} s and none is running: is the sweep consumer up?",
        )
    return SweepHealthView(
        health="working" if busy or oldest_s is not None else "idle", counts=counts, oldest_queued_s=oldest_s
    )


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _data(services: Container, now: datetime) -> DataView:
    try:
        orders = services.orders.list_orders(limit=1).items
        runs = BacktestRunsRepository(services.db).recent(limit=1)
    except AiTraderError as exc:
        return DataView(as_of=now, error=_line(exc))
    return DataView(
        as_of=now,
        newest_order_at=_aware(orders[0].updated_at) if orders else None,
        newest_backtest_at=_aware(runs[0].created_at) if runs else None,
    )


def limit_use_view(services: Container, now: datetime) -> LimitUseView:
    """Each limit's use on the governor's book now; an unreadable book is an ``error`` line."""
    from dataclasses import replace

    from app.risk.guard import trading_day_start
    from app.risk.limits import book_limit_use
    from app.storage.repositories.guard import GuardRepository

    limits = services.guard_limits
    store = services.guard.store  # the process's guard repository: it keeps the fills' replay
    try:
        if not isinstance(store, GuardRepository):
            raise InputError("the order guard's store cannot read the governor's book")
        book = store.governor_book(now, trading_day_start(now), Decimal(str(limits.starting_equity)))
        report = book_limit_use(book, replace(limits.governor, max_open_orders=limits.max_open_orders))
    except AiTraderError as exc:
        return LimitUseView(as_of=now, error=_line(exc))
    return LimitUseView(
        as_of=now,
        equity=report.equity,
        high_water_mark=report.high_water_mark,
        unrealised=report.unrealised,
        realised_today=report.realised_today,
        items=[LimitUseItem(**asdict(item)) for item in report.items],
        symbols=[SymbolExposureView(**asdict(item)) for item in report.symbols],
    )


def build_status(services: Container, now: datetime | None = None) -> StatusView:
    """Every section of the status bar, each read on its own."""
    # The book's day and the schedule follow the platform clock (a replayed day in a replay);
    # heartbeats (consumers, sweep workers) are stamped by the wall clock.
    session_now = services.clock() if now is None else now
    now = now or datetime.now(UTC)
    return StatusView(
        trading=_trading(services),
        limits=limit_use_view(services, session_now),
        consumers=_consumers(services, now),
        scheduler=_scheduler(services.settings, session_now),
        sweeps=_sweep_health(services, now),
        data=_data(services, session_now),
    )


@router.get("/status")
async def get_status(container: ContainerDep) -> StatusView:
    """Trading state, consumer lag, scheduler last/next job, sweep consumer health, data as-of."""
    return await run_in_threadpool(build_status, container)


@router.get("/risk/limit-use")
async def get_limit_use(container: ContainerDep) -> LimitUseView:
    """Each risk limit's use on the book now (held positions and live reservations, marked at
    their newest fill price), with every held symbol's exposure and weight of equity."""
    return await run_in_threadpool(limit_use_view, container, container.clock())


# --- risk history ---------------------------------------------------------------------------
class RiskEventView(BaseModel):
    id: int
    ts: datetime
    kind: str  # "set" (a change: reason on/off) or "trip" (a refused order)
    reason: str
    actor: str | None
    symbol: str | None
    detail: str | None


class RiskHistory(BaseModel):
    items: list[RiskEventView]


@router.get("/risk/kill-switch/history")
async def kill_switch_history(
    container: ContainerDep, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> RiskHistory:
    """Kill-switch changes and the orders it refused, newest first."""
    rows = await run_in_threadpool(container.kill_switch.history, limit)
    return RiskHistory(
        items=[
            RiskEventView(
                id=r.id,
                ts=_aware(r.ts) or r.ts,
                kind=r.kind,
                reason=r.reason,
                actor=r.actor,
                symbol=r.symbol,
                detail=r.detail,
            )
            for r in rows
        ]
    )


# --- schedule -------------------------------------------------------------------------------
class ScheduleJobView(BaseModel):
    job: str
    description: str
    due_et: datetime
    due_pt: datetime
    status: str  # ok, error, skipped (from the ledger), due (past, not recorded) or pending
    finished_at: datetime | None = None
    duration_s: float | None = None
    output: dict[str, Any] | None = None


class ScheduleDay(BaseModel):
    session: date
    is_session: bool
    now: datetime
    jobs: list[ScheduleJobView]


def schedule_day(settings: Settings, day: date, now: datetime) -> ScheduleDay:
    """Every enabled job of ``day``'s session with what the ledger recorded for it."""
    if not is_session(day):
        return ScheduleDay(session=day, is_session=False, now=now, jobs=[])
    start = datetime(day.year, day.month, day.day, tzinfo=EXCHANGE_ZONE)
    recorded = {str(e["key"]): e for e in _ledger(settings).entries()}
    jobs = []
    for occurrence in occurrences(settings, start, days=0):
        entry = recorded.get(occurrence.key)
        detail = entry.get("detail") if entry is not None else None
        if entry is not None:
            status = str(entry.get("status"))
        else:
            status = "due" if occurrence.due <= now else "pending"
        jobs.append(
            ScheduleJobView(
                job=occurrence.job.name,
                description=JOBS_BY_NAME[occurrence.job.name].description,
                due_et=occurrence.due,
                due_pt=occurrence.due.astimezone(PACIFIC),
                status=status,
                finished_at=_finished(entry) if entry is not None else None,
                duration_s=_duration(entry) if entry is not None else None,
                output=detail if isinstance(detail, dict) else None,
            )
        )
    return ScheduleDay(session=day, is_session=True, now=now, jobs=jobs)


@router.get("/schedule/day")
async def get_schedule_day(
    container: ContainerDep,
    day: Annotated[date | None, Query(description="Session date (New York); default today.")] = None,
) -> ScheduleDay:
    """A session's jobs on the exchange clock (ET and PT) with status, duration and output."""
    now = container.clock()
    when = day or now.astimezone(EXCHANGE_ZONE).date()
    if abs((when - now.date()).days) > 366:
        raise InputError(f"day: must be within a year of today, got {when}")
    return await run_in_threadpool(schedule_day, container.settings, when, now)


# --- backtests and sweeps -------------------------------------------------------------------
class BacktestRunView(BaseModel):
    run_id: str
    source: str
    symbol: str
    strategy: str
    vendor: str
    interval: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    frame_path: str | None
    created_at: datetime | None


class BacktestRunList(BaseModel):
    items: list[BacktestRunView]


@router.get("/backtests/runs")
async def list_backtest_runs(
    container: ContainerDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> BacktestRunList:
    """Recorded backtest runs (CLI, API, sweeps' best sets), newest first, with their metrics."""
    rows = await run_in_threadpool(BacktestRunsRepository(container.db).recent, limit)
    return BacktestRunList(
        items=[
            BacktestRunView(
                run_id=r.run_id,
                source=r.source,
                symbol=r.symbol,
                strategy=r.strategy,
                vendor=r.vendor,
                interval=r.interval,
                params=dict(r.params),
                metrics=dict(r.metrics),
                frame_path=r.frame_path,
                created_at=_aware(r.created_at),
            )
            for r in rows
        ]
    )


class SweepJobRow(SweepJobPublic):
    """A job with its sets' outcome once it finished (``None`` while unknown)."""

    ok: int | None = None
    failed: int | None = None
    evaluated: int | None = None
    best: dict[str, Any] | None = None


class SweepOverview(BaseModel):
    items: list[SweepJobRow]
    counts: dict[str, int]
    total: int


def sweep_overview(services: Container, limit: int) -> SweepOverview:
    service = services.sweep_jobs
    listing = service.list_jobs(None, limit)
    rows = []
    for job in listing.items:
        extra: dict[str, Any] = {}
        if job.status in ("completed", "failed"):
            try:
                summary = service.detail(job.job_id, 1).summary or {}
            except (AiTraderError, OSError, ValueError):
                summary = {}
            extra = {k: summary.get(k) for k in ("ok", "failed", "evaluated", "best")}
        rows.append(SweepJobRow(**job.model_dump(), **extra))
    return SweepOverview(items=rows, counts=listing.counts, total=listing.total)


@router.get("/backtests/sweeps/overview")
async def get_sweep_overview(
    container: ContainerDep, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> SweepOverview:
    """The newest sweep jobs with ok/failed parameter-set counts from each finished run."""
    return await run_in_threadpool(sweep_overview, container, limit)


class SweepConfigView(BaseModel):
    path: str
    name: str | None
    strategy: str | None
    symbols: list[str]
    params: list[str]


class SweepConfigList(BaseModel):
    items: list[SweepConfigView]


def sweep_configs(root: FsPath) -> SweepConfigList:
    """The YAML sweep configs under ``configs/backtest`` (the picker's choices)."""
    import yaml

    items = []
    folder = root / "backtest"
    for path in sorted(folder.glob("*.y*ml")) if folder.is_dir() else []:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        if not isinstance(data, dict):
            continue
        params = data.get("params")
        symbols = data.get("symbols")
        items.append(
            SweepConfigView(
                path=f"configs/backtest/{path.name}",
                name=str(data["name"]) if data.get("name") else None,
                strategy=str(data["strategy"]) if data.get("strategy") else None,
                symbols=[str(s) for s in symbols] if isinstance(symbols, list) else [],
                params=[str(p) for p in params] if isinstance(params, dict) else [],
            )
        )
    return SweepConfigList(items=items)


@router.get("/backtests/sweeps/configs")
async def list_sweep_configs() -> SweepConfigList:
    """Sweep configs a job can be enqueued from (``config_path`` of ``POST .../jobs``)."""
    return await run_in_threadpool(sweep_configs, (FsPath.cwd() / "configs").resolve())


# --- limits ---------------------------------------------------------------------------------
class LimitView(BaseModel):
    name: str
    setting: str
    value: float | None  # None: not enforced
    description: str


class LimitsView(BaseModel):
    items: list[LimitView]


@router.get("/risk/limits")
async def get_limits(container: ContainerDep) -> LimitsView:
    """The order guard's configured limits (``None``: that limit is not enforced)."""
    limits = container.guard_limits
    return LimitsView(
        items=[
            LimitView(
                name="notional",
                setting="KILL_SWITCH_NOTIONAL",
                value=limits.notional,
                description="largest notional of one order",
            ),
            LimitView(
                name="daily_loss",
                setting="KILL_SWITCH_DAILY_LOSS_LIMIT",
                value=limits.daily_loss,
                description="realised loss of the session after which orders are refused",
            ),
            LimitView(
                name="max_open_orders",
                setting="KILL_SWITCH_MAX_OPEN_ORDERS",
                value=None if limits.max_open_orders is None else float(limits.max_open_orders),
                description="working orders at once",
            ),
        ]
    )


# --- models: live calibration and champion vs challenger -------------------------------------
class ReliabilityView(BaseModel):
    forecast: list[float] = Field(description="Mean forecast probability per filled bin.")
    observed: list[float] = Field(description="Observed win frequency per filled bin.")
    count: list[float]


class CalibrationScoresView(BaseModel):
    samples: int
    brier: float
    log_loss: float
    ece: float
    mean_prob: float
    base_rate: float = Field(description="The realised win rate.")
    reliability: ReliabilityView
    drift: bool = False
    judged: bool = Field(True, description="Enough outcomes to judge drift (MODEL_CALIBRATION_MIN_SAMPLES).")


class CalibrationView(BaseModel):
    """The newest ``reports`` job's live calibration: router probabilities vs realised outcomes."""

    session: date
    scored: int
    pending: int
    drift_max: float
    min_samples: int
    overall: CalibrationScoresView | None
    regimes: dict[str, CalibrationScoresView]
    drifting: list[str]
    intervals: dict[str, int] = Field(
        default_factory=dict,
        description="Scored decisions per bar interval; each is scored against the next bar of its own.",
    )
    errors: dict[str, str] = {}


class ModelSummaryView(BaseModel):
    version: str
    created_at: str
    samples: int
    training_window: dict[str, str]
    model: dict[str, float] = Field(description="Out-of-sample Brier, log loss, ECE of the model.")
    prior: dict[str, float] = Field(description="The Beta prior's, on the same samples.")
    brier_improvement: float | None


class DecisionView(BaseModel):
    version: str
    promoted: bool
    reason: str
    decided_at: str
    actor: str
    model_brier: float
    prior_brier: float
    brier_improvement: float
    model_log_loss: float
    prior_log_loss: float
    previous_champion: str | None


class StrategyModelsView(BaseModel):
    strategy: str
    champion: ModelSummaryView | None = Field(description="The promoted model; null: the Beta prior sizes.")
    challenger: ModelSummaryView | None = Field(
        description="The newest registered model that is not champion."
    )
    decisions: list[DecisionView] = Field(description="Promotion decisions, newest first (at most 20).")
    error: str | None = None


class ModelsOverview(BaseModel):
    calibration: CalibrationView | None
    calibration_error: str | None = None
    strategies: list[StrategyModelsView]
    registry_error: str | None = None


CALIBRATION_SEARCH_DAYS = 14
"""How many of the newest daily report folders are searched for a calibration."""


def latest_calibration(artifacts: FsPath) -> CalibrationView | None:
    """The calibration of the newest ``daily/<session>/reports.json`` that has one (or None)."""
    import json

    folder = artifacts / "daily"
    sessions = sorted((p for p in folder.iterdir() if p.is_dir()), reverse=True) if folder.is_dir() else []
    for path in sessions[:CALIBRATION_SEARCH_DAYS]:
        report_path = path / "reports.json"
        if not report_path.is_file():
            continue
        try:
            report = json.loads(report_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"{report_path.name} of {path.name} is not readable JSON: {exc}") from exc
        calibration = report.get("calibration") if isinstance(report, dict) else None
        if not isinstance(calibration, dict):
            continue
        return CalibrationView(session=date.fromisoformat(path.name), **calibration)
    return None


def _summary(card: Any) -> ModelSummaryView:
    metrics = card.metrics
    improvement = metrics.get("brier_improvement")
    return ModelSummaryView(
        version=card.version,
        created_at=card.created_at,
        samples=card.samples,
        training_window=dict(card.training_window),
        model={k: float(v) for k, v in metrics.get("model", {}).items() if isinstance(v, int | float)},
        prior={k: float(v) for k, v in metrics.get("prior", {}).items() if isinstance(v, int | float)},
        brier_improvement=None if improvement is None else float(improvement),
    )


def strategy_models(registry: Any, strategy: str) -> StrategyModelsView:
    """Champion and challenger cards of ``strategy`` with its promotion decisions."""
    from dataclasses import asdict as as_dict

    try:
        champion = registry.champion_version(strategy)
        cards = [registry.card(strategy, v) for v in registry.versions(strategy)]
        decisions = sorted(registry.decisions(strategy), key=lambda d: d.decided_at, reverse=True)
    except (AiTraderError, ValueError, TypeError, KeyError) as exc:
        return StrategyModelsView(
            strategy=strategy, champion=None, challenger=None, decisions=[], error=_line(exc)
        )
    by_version = {card.version: card for card in cards}
    others = sorted((c for c in cards if c.version != champion), key=lambda c: c.created_at)
    return StrategyModelsView(
        strategy=strategy,
        champion=_summary(by_version[champion]) if champion in by_version else None,
        challenger=_summary(others[-1]) if others else None,
        decisions=[
            DecisionView(**{k: v for k, v in as_dict(d).items() if k != "strategy"}) for d in decisions[:20]
        ],
    )


def models_overview(services: Container) -> ModelsOverview:
    from app.models.registry import ModelRegistry

    calibration, calibration_error = None, None
    try:
        calibration = latest_calibration(services.settings.ARTIFACTS_DIR)
    except (AiTraderError, OSError, ValueError) as exc:
        calibration_error = _line(exc)
    registry = ModelRegistry(services.blob, services.settings.BLOB_CONTAINER_MODELS)
    try:
        names = registry.strategies()
    except AiTraderError as exc:
        return ModelsOverview(
            calibration=calibration,
            calibration_error=calibration_error,
            strategies=[],
            registry_error=_line(exc),
        )
    return ModelsOverview(
        calibration=calibration,
        calibration_error=calibration_error,
        strategies=[strategy_models(registry, name) for name in names],
    )


@router.get("/models/overview")
async def get_models_overview(container: ContainerDep) -> ModelsOverview:
    """The newest live calibration (per regime, with its reliability curve and drift flag) and
    each strategy's champion vs challenger with its promotion decisions."""
    return await run_in_threadpool(models_overview, container)
