"""The router's nodes: each reads the state, does one step and returns the keys it sets.

Every node appends its outcome to ``events`` (``ingest:synthetic``, ``priors:computed``,
``risk:fractional_kelly``, ``guard:passed``, ``order:published``, ``order:executed``,
``order:skipped:<reason>`` ...). Strategy, priors and sizing come from the one decision
pipeline the backtests use (:func:`app.decision.pipeline.decide`); the order's notional from
:func:`app.risk.sizing.order_notional`.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from functools import wraps
from typing import Any

import numpy as np
import pandas as pd
from langgraph.runtime import Runtime

from app.bus.envelope import Envelope
from app.decision import compute_regimes, compute_signals
from app.decision.pipeline import DecisionFrame, apply_probability_model, decide
from app.domain.intervals import get_interval
from app.domain.orders import ORDER_EVENT_INTENT, ORDER_EVENT_UPDATE, OrderEvent, OrderSide, OrderStatus
from app.errors import ConfigError, InputError, OrderRejected
from app.execution.ports import Broker
from app.models.selection import PriorChoice, PriorModels
from app.portfolio import clamp_exit
from app.risk.governor import GovernorOrder, GovernorState, is_reducing
from app.risk.guard import GuardRequest
from app.risk.kill_switch import KILL_SWITCH_ACTIVE, KILL_SWITCH_REDUCING, KILL_SWITCH_UNAVAILABLE
from app.risk.sizing import QTY_STEP, order_notional, to_cents
from app.router.freshness import complete_bars, freshness
from app.router.schemas import RouterRunRequest
from app.router.state import Action, RouterContext, RouterState
from app.strategies import get_strategy

__all__ = [
    "BOOK_UNAVAILABLE",
    "DRILL_NOT_EXECUTABLE",
    "STALE_DATA",
    "book",
    "client_order_id",
    "execute",
    "features",
    "find_action",
    "guard",
    "ingest",
    "ingest_bars",
    "mark_paper_account",
    "newest_close",
    "priors",
    "publish",
    "risk",
    "strategy",
]

log = logging.getLogger(__name__)

STALE_DATA = "stale_data"
BOOK_UNAVAILABLE = "book_unavailable"
ACCOUNT_UNCONFIRMED = "account_unconfirmed"
"""A real venue's account or positions could not be read (or its equity is not positive):
nothing is sized against a book the broker did not confirm."""
DRILL_NOT_EXECUTABLE = "drill_not_executable"
_ZERO = Decimal(0)

Node = Callable[[RouterState, Runtime[RouterContext]], dict[str, Any]]


def _timed(name: str) -> Callable[[Node], Node]:
    def wrap(node: Node) -> Node:
        @wraps(node)
        def run(state: RouterState, runtime: Runtime[RouterContext]) -> dict[str, Any]:
            started = time.perf_counter()
            update = node(state, runtime)
            # a step done ahead of the run (a routing pass's ingest) keeps the time it took then
            update.setdefault("timings_ms", {name: round((time.perf_counter() - started) * 1000, 3)})
            return update

        return run

    return wrap


def client_order_id(
    account: str, symbol: str, strategy: str, bar_time: datetime, *, drill: bool = False
) -> str:
    """The intent's id: one per account, symbol, strategy and decision bar, whatever its side.

    The same bar can therefore never yield a second order, in this process or after a
    restart. A drill's ids (``dr-``) never collide with a target run's (``rt-``).
    """
    stamp = bar_time.astimezone(UTC).strftime("%Y%m%dT%H%M")
    key = f"{account}|{symbol}|{strategy}|{bar_time.astimezone(UTC).isoformat()}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return f"{'dr' if drill else 'rt'}-{strategy}-{symbol}-{stamp}-{digest}"


def _event_id(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:32]


def find_action(position: np.ndarray) -> Action | None:
    """The last bar where the strategy's position changed (a position held at the window's
    first bar counts as opened there), or ``None`` when it stayed flat throughout."""
    if len(position) == 0:
        return None
    previous = np.concatenate((np.zeros(1), position[:-1]))
    changes = np.flatnonzero(position != previous)
    if len(changes) == 0:
        return None
    bar = int(changes[-1])
    new, old = float(position[bar]), float(previous[bar])
    entry_bar = int(changes[-2]) if old != 0 and len(changes) > 1 else (0 if old != 0 else None)
    return Action(
        bar=bar, side=1 if new > old else -1, new_position=new, old_position=old, entry_bar=entry_bar
    )


def newest_close(bars: pd.DataFrame) -> Decimal:
    """The close of the last bar of ``bars``: the price a target-mode run sizes, marks and fills at."""
    return Decimal(str(float(bars["close"].iloc[-1])))


def mark_paper_account(broker: Broker, prices: Mapping[str, Decimal]) -> bool:
    """Mark a paper account (the simulated broker) with ``prices``; whether it was one.

    A real venue values its account itself: it is never marked (nothing is sent to it).
    """
    if broker.kind != "simulated":
        return False
    mark = getattr(broker, "mark", None)
    if mark is None:
        return False
    mark(prices)
    return True


@_timed("ingest")
def ingest(state: RouterState, runtime: Runtime[RouterContext]) -> dict[str, Any]:
    ingested = state.get("ingested")
    if ingested is not None:  # read by the routing pass before any symbol was sized
        return dict(ingested)
    return ingest_bars(state["request"], runtime.context)


def ingest_bars(
    request: RouterRunRequest, context: RouterContext, now: datetime | None = None
) -> dict[str, Any]:
    """The ingest step on its own: the request's bars up to ``now`` (the context's clock by
    default) and, in target mode, only the completed ones, with ``fallback_reason`` set to
    ``stale_data`` when there is no fresh completed bar. Returns the state keys it sets.

    Raises:
        InputError: the clock is naive, or the window holds no bars.
        VendorRejected, VendorUnavailable, DataQualityError: the bars could not be read.
    """
    now = context.clock() if now is None else now
    if now.tzinfo is None:
        raise InputError("the router's clock must return a timezone-aware time")
    end = max(min(request.window_end, now), request.start)
    if request.offline_mode and context.offline_bars is not None:
        result = context.offline_bars.fetch(request.symbol, request.start, end, request.interval)
    else:
        offline = request.offline_mode
        result = context.market_data.fetch(
            "synthetic" if offline else "auto",
            request.symbol,
            request.start,
            end,
            interval=request.interval,
            use_cache=not offline,
            write_cache=not offline,
        )
    if len(result.bars) == 0:
        raise InputError(f"start: no {request.interval} bars for {request.symbol} in the window")
    update: dict[str, Any] = {
        "vendor": result.vendor,
        "bars": result.bars,
        "now": now,
        "decision_mode": "drill" if request.offline_mode else "target",
        "events": [f"ingest:{result.vendor}"],
    }
    if request.offline_mode:
        return update
    # target mode: the newest completed bar, and only when it is recent enough
    interval = get_interval(request.interval)
    bars = complete_bars(result.bars, interval, now)
    update["bars"] = bars
    if len(bars) == 0:
        return update | {
            "fallback_reason": STALE_DATA,
            "events": [*update["events"], "data:no_completed_bar", f"order:skipped:{STALE_DATA}"],
        }
    last = pd.Timestamp(bars.index[-1]).to_pydatetime()
    fresh = freshness(last, interval, now, context.settings.ROUTER_STALE_TOLERANCE_S)
    if fresh.stale:
        log.warning(
            "router run on stale bars refused",
            extra={"symbol": request.symbol, "interval": request.interval, "detail": fresh.describe()},
        )
        return update | {
            "fallback_reason": STALE_DATA,
            "events": [
                *update["events"],
                f"data:stale:{fresh.market_age.total_seconds():.0f}s",
                f"order:skipped:{STALE_DATA}",
            ],
        }
    return update


@_timed("features")
def features(state: RouterState, runtime: Runtime[RouterContext]) -> dict[str, Any]:
    signals = compute_signals(state["bars"])
    regimes = compute_regimes(state["bars"], signals)
    return {"signals": signals, "regimes": regimes, "events": ["signals:computed", "regimes:computed"]}


def _strategy_params(state: RouterState, runtime: Runtime[RouterContext]) -> tuple[dict[str, Any], str]:
    """The request's parameters, else the strategy's champion parameters, else its defaults."""
    request = state["request"]
    if request.params is not None:
        return dict(request.params), "request"
    lookup = runtime.context.champion_params
    if lookup is None:
        return {}, "default"
    try:
        record = lookup(request.strategy)
    except Exception as exc:  # an unreadable record must not stop the run: defaults, loudly
        log.warning("champion parameters of %s not read, using defaults: %s", request.strategy, exc)
        return {}, "default"
    params = None if record is None else record.get("params")
    if not isinstance(params, dict):
        return {}, "default"
    return dict(params), "champion"


@_timed("strategy")
def strategy(state: RouterState, runtime: Runtime[RouterContext]) -> dict[str, Any]:
    request = state["request"]
    params, source = _strategy_params(state, runtime)
    chosen = get_strategy(request.strategy, params)
    decisions = decide(state["bars"], state["signals"], state["regimes"], chosen, runtime.context.risk)
    if request.offline_mode:  # drill: the last position change in the window
        action = find_action(decisions.position)
        outcome = "no_change" if action is None else ("buy" if action.side > 0 else "sell")
    else:  # target: the newest completed bar's side
        action = None
        side = float(decisions.position[-1])
        outcome = "target:" + ("long" if side > 0 else "short" if side < 0 else "flat")
    return {
        "decisions": decisions,
        "action": action,
        "params": chosen.params(),
        "params_source": source,
        "events": [f"strategy:{request.strategy}:{outcome}", f"params:{source}"],
    }


def _bar(decisions: DecisionFrame, state: RouterState) -> int:
    action = state.get("action")
    return action.bar if action is not None else len(decisions) - 1


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _prior_choice(state: RouterState, runtime: Runtime[RouterContext]) -> PriorChoice:
    request = state["request"]
    models = runtime.context.prior_models or PriorModels(None)
    choice = models.resolve(request.strategy, request.prior_model)
    if choice.fallback_reason is not None and request.prior_model != "beta":
        log.info("router sizes %s with the Beta priors: %s", request.strategy, choice.fallback_reason)
    return choice


@_timed("priors")
def priors(state: RouterState, runtime: Runtime[RouterContext]) -> dict[str, Any]:
    decisions = state["decisions"]
    i = _bar(decisions, state)
    choice = _prior_choice(state, runtime)
    update: dict[str, Any] = {"prior": choice.as_dict()}
    if choice.model is not None:
        # score only the bars the order depends on: the action's bar and the entry it closes
        action = state.get("action")
        rows = [i] if action is None or action.entry_bar is None else [i, action.entry_bar]
        decisions = apply_probability_model(
            decisions, state["bars"], state["signals"], choice.model, runtime.context.risk, np.array(rows)
        )
        update["decisions"] = decisions
    prob, payoff = _finite(float(decisions.prob[i])), _finite(float(decisions.payoff[i]))
    computed = prob is not None and payoff is not None
    return {
        **update,
        "prob": prob,
        "payoff": payoff,
        "position": float(decisions.position[i]),
        "regime": str(decisions.regime[i]),
        "events": ["priors:computed" if computed else "priors:unavailable", choice.event],
    }


def _unavailable(
    detail: str, exc: Exception | None = None, *, reason: str = BOOK_UNAVAILABLE
) -> dict[str, Any]:
    what = "book" if reason == BOOK_UNAVAILABLE else "broker"
    events = [f"{what}:unavailable:{type(exc).__name__ if exc is not None else detail}"]
    log.warning("router run refused: the %s is unavailable (%s)", what, f"{detail}: {exc}" if exc else detail)
    return {
        "fallback_reason": reason,
        "published": False,
        "executed": False,
        "events": [*events, f"order:skipped:{reason}"],
    }


@_timed("book")
def book(state: RouterState, runtime: Runtime[RouterContext]) -> dict[str, Any]:
    """Target mode: what the account holds, what is on its way, its equity, and whether this
    bar's order already exists. A drill reads nothing (its holding is the strategy's replay)."""
    context, request = runtime.context, state["request"]
    decisions = state["decisions"]
    if request.offline_mode:
        return {"events": ["decision:drill"]}
    bar_time = pd.Timestamp(decisions.index[-1]).to_pydatetime()
    cid = client_order_id(context.account, request.symbol, request.strategy, bar_time)
    price = newest_close(state["bars"])
    update: dict[str, Any] = {"client_order_id": cid, "price": price}
    if not (price.is_finite() and price > 0):
        return update | _unavailable(f"no usable price {price}")
    if context.book is None:
        return update | _unavailable("no_book_configured")
    try:
        # reservations expire on the guard's clock (wall time), not the run's
        view = context.book.view(context.account, request.symbol, cid, datetime.now(UTC))
    except Exception as exc:  # fail closed: no order against a book that cannot be read
        return update | _unavailable("book read failed", exc)
    if view.existing is not None:
        existing = view.existing.as_dict()
        return update | {
            "book_view": view,
            "existing_order": existing,
            "published": False,
            "executed": False,
            "events": [
                "decision:target",
                "order:skipped:duplicate",
                f"order:existing:{view.existing.source}:{view.existing.status}",
            ],
        }
    equity, source, marks = _equity(view, request.symbol, price, runtime)
    if equity is None and source == "broker":
        return update | _unavailable("broker_unreadable", reason=ACCOUNT_UNCONFIRMED)
    if equity is None:
        return update | _unavailable("equity_unusable")
    held = view.held
    return update | {
        "book_view": view,
        "equity": float(equity),
        "equity_source": source,
        "marks": marks,
        "held_qty": held,
        "pending_qty": view.pending_qty(price),
        "events": ["decision:target", f"equity:{source}"],
    }


def _equity(
    view: Any, symbol: str, price: Decimal, runtime: Runtime[RouterContext]
) -> tuple[Decimal | None, str, dict[str, float]]:
    """The broker's equity when it answers, else the book marked to market (``None``:
    unusable), and the broker's marks of the positions it holds (for the governor).

    The book's figure stands in only when no broker is configured (intents sized for the bus)
    or for the paper account; a real venue whose account or positions cannot be read, or
    whose equity is not positive, gives ``(None, "broker", ...)``: nothing is sized.

    The paper broker learns prices only from its fills and from marks: it is marked here with
    the symbol's newest completed close before its equity is read (a routing pass has marked
    every symbol of the watchlist already, see :meth:`app.router.service.RouterService.run_pass`;
    a single run marks its own), so the symbol is sized on an account valued at the market (a
    venue marks its account itself)."""
    context = runtime.context
    marks: dict[str, float] = {}
    try:
        broker = context.broker()
    except ConfigError as exc:  # no broker configured: the book's own figure
        log.info("no broker to read the equity from, marking the book instead: %s", exc)
        broker = None
    except Exception as exc:  # configured but not usable: nothing is sized on a guess
        log.warning("the broker could not be opened, nothing is sized: %s", exc)
        return None, "broker", marks
    venue = broker is not None and broker.kind != "simulated"
    if broker is not None:
        try:
            mark_paper_account(broker, {symbol: price})
            reported = broker.get_account().equity
        except Exception as exc:
            if venue:  # the venue holds the account: size nothing against a book it did not confirm
                log.warning("the broker's account could not be read, nothing is sized: %s", exc)
                return None, "broker", marks
            log.info("paper account not read, marking the book instead: %s", exc)
        else:
            if reported.is_finite() and reported > 0:
                try:
                    marks = {
                        p.symbol: float(p.current_price)
                        for p in broker.list_positions()
                        if p.current_price is not None and p.current_price.is_finite() and p.current_price > 0
                    }
                except Exception as exc:
                    if venue:  # the governor would value the venue's positions at stale fills
                        log.warning("the broker's positions could not be read, nothing is sized: %s", exc)
                        return None, "broker", {}
                    log.info("paper positions not read, the governor marks at the last fills: %s", exc)
                return reported, "broker", marks
            if venue:
                log.warning("the broker reports equity %s, nothing is sized", reported)
                return None, "broker", marks
    starting = Decimal(str(context.settings.RISK_ACCOUNT_EQUITY))
    try:
        marked = view.marked_equity(starting, price)
    except Exception as exc:
        log.warning("the book could not be marked: %s", exc)
        return None, "book", marks
    if not (isinstance(marked, Decimal) and marked.is_finite() and marked > 0):
        return None, "book", marks
    return marked, "book", marks


def _target(state: RouterState, runtime: Runtime[RouterContext]) -> dict[str, Any]:
    """Target mode sizing: target - (held + pending), within the band, exits clamped."""
    context, request = runtime.context, state["request"]
    decisions = state["decisions"]
    settings = context.settings
    events = [f"risk:{context.risk.agent}"]
    side, frac = float(decisions.position[-1]), float(decisions.frac[-1])
    price = state["price"]
    equity = Decimal(str(state["equity"]))
    held, pending = state["held_qty"] or _ZERO, state["pending_qty"] or _ZERO
    weight = Decimal(str(side * frac)) if math.isfinite(frac) else _ZERO
    target = (weight * equity / price).quantize(QTY_STEP, rounding=ROUND_DOWN)
    effective = held + pending
    wanted = target - effective
    order = clamp_exit(effective, wanted).quantize(QTY_STEP, rounding=ROUND_DOWN)
    if order != wanted:
        events.append("order:clamped_to_holding")
    update: dict[str, Any] = {
        "frac": _finite(frac),
        "target_qty": target,
        "order_qty": order,
        "intent": None,
    }
    notional = abs(order) * price
    if order == 0:
        return update | {"notional": 0.0, "events": [*events, "order:skipped:on_target"]}
    band = max(
        Decimal(str(settings.ROUTER_REBALANCE_MIN_NOTIONAL)),
        Decimal(str(settings.ROUTER_REBALANCE_MIN_FRACTION)) * equity,
    )
    closing = target == 0  # a close to flat is never held back by the band
    if notional < band and not closing:
        return update | {
            "order_qty": _ZERO,
            "notional": float(to_cents(float(notional))),
            "events": [*events, "order:skipped:rebalance_band"],
        }
    bar_time = pd.Timestamp(decisions.index[-1]).to_pydatetime()
    intent = OrderEvent(
        client_order_id=state["client_order_id"] or "",
        symbol=request.symbol,
        side=OrderSide.BUY if order > 0 else OrderSide.SELL,
        qty=abs(order),
        strategy=request.strategy,
        prob=state.get("prob"),
        frac=min(max(frac, 0.0), 1.0) if math.isfinite(frac) else None,
        run_id=state["run_id"],
        bar_time=bar_time,
        ts=state["now"],
    )
    return update | {"notional": float(notional), "intent": intent, "events": events}


@_timed("risk")
def risk(state: RouterState, runtime: Runtime[RouterContext]) -> dict[str, Any]:
    context, request = runtime.context, state["request"]
    if not request.offline_mode:
        return _target(state, runtime)
    decisions, action = state["decisions"], state.get("action")
    events = [f"risk:{context.risk.agent}"]
    if action is None:
        return {
            "frac": _finite(float(decisions.frac[-1])),
            "notional": None,
            "intent": None,
            "events": events,
        }
    close = np.asarray(state["bars"]["close"], dtype=np.float64)
    entry = action.entry_bar
    notional = order_notional(
        equity=context.settings.RISK_ACCOUNT_EQUITY,
        new_position=action.new_position,
        new_frac=float(decisions.frac[action.bar]),
        old_position=action.old_position if entry is not None else 0.0,
        old_frac=float(decisions.frac[entry]) if entry is not None else 0.0,
        entry_price=float(close[entry]) if entry is not None else math.nan,
        price=float(close[action.bar]),
    )
    frac = (
        float(decisions.frac[action.bar])
        if action.new_position != 0
        else float(decisions.frac[action.entry_bar or 0])
    )
    if notional <= 0:
        return {"frac": _finite(frac), "notional": 0.0, "intent": None, "events": events}
    bar_time = pd.Timestamp(decisions.index[action.bar]).to_pydatetime()
    side = OrderSide.BUY if action.side > 0 else OrderSide.SELL
    prob = state.get("prob")
    intent = OrderEvent(
        client_order_id=client_order_id(
            context.account, request.symbol, request.strategy, bar_time, drill=True
        ),
        symbol=request.symbol,
        side=side,
        notional=notional,
        strategy=request.strategy,
        prob=prob,
        frac=min(max(frac, 0.0), 1.0),
        run_id=state["run_id"],
        bar_time=bar_time,
        ts=state["now"],
    )
    return {"frac": _finite(frac), "notional": float(notional), "intent": intent, "events": events}


@_timed("guard")
def guard(state: RouterState, runtime: Runtime[RouterContext]) -> dict[str, Any]:
    request, intent = state["request"], state.get("intent")
    decision = runtime.context.guard.check(
        GuardRequest(
            symbol=request.symbol,
            notional=float(state.get("notional") or 0) if intent is not None else 0.0,
            kill_switch_active=request.kill_switch_active,
            kill_switch_notional=request.kill_switch_notional,
            # an intent is checked by the governor and reserved in the same step
            client_order_id=intent.client_order_id if intent is not None else None,
            side=str(intent.side) if intent is not None else None,
            price=float(state["bars"]["close"].iloc[-1]) if intent is not None else None,
            qty=intent.qty if intent is not None and not request.offline_mode else None,
            marks=state.get("marks") if intent is not None else None,
        )
    )
    if decision.allowed:
        return {"guard": decision, "events": ["guard:passed"]}
    return {
        "guard": decision,
        "fallback_reason": decision.reason,
        "published": False,
        "executed": False,
        "events": [f"guard:tripped:{decision.reason}", f"order:skipped:{decision.reason}"],
    }


@_timed("publish")
def publish(state: RouterState, runtime: Runtime[RouterContext]) -> dict[str, Any]:
    request, intent = state["request"], state.get("intent")
    if intent is None:
        if not request.offline_mode:  # the risk node said why (on target, within the band)
            return {"published": False, "executed": False}
        reason = "no_signal" if state.get("action") is None else "zero_size"
        return {"published": False, "executed": False, "events": [f"order:skipped:{reason}"]}
    if request.execute_orders:
        # resolve the broker before anything leaves the process: a run that cannot execute
        # must not leave a published intent behind
        try:
            broker = runtime.context.broker()
        except ConfigError as exc:
            return {"published": False, **_not_executed("broker_unconfigured", exc)}
        if request.offline_mode and broker.kind != "simulated":
            # a drill on synthetic bars is a rehearsal: it never reaches a real venue
            return {
                "published": False,
                "executed": False,
                "fallback_reason": DRILL_NOT_EXECUTABLE,
                "events": [f"order:skipped:{DRILL_NOT_EXECUTABLE}", f"broker:{broker.kind}"],
            }
    if not request.publish_orders:
        return {"published": False, "events": ["publish:disabled"]}
    halted = _switch_halts(state, runtime, "publish")
    if halted is not None:  # flipped since the guard ran: nothing leaves the process
        return {"published": False, "executed": False, **halted}
    settings = runtime.context.settings
    envelope = Envelope.wrap(
        ORDER_EVENT_INTENT,
        intent,
        partition_key=intent.symbol,
        correlation_id=state["run_id"],
        event_id=_event_id(intent.client_order_id, ORDER_EVENT_INTENT),
    )
    try:
        runtime.context.bus().publish(settings.EH_HUB_ORDERS, [envelope])
    except Exception as exc:  # any bus failure: the order must not go further
        return {
            "published": False,
            "executed": False,
            "fallback_reason": "bus_unavailable",
            "events": ["order:skipped:bus_unavailable", f"bus:error:{type(exc).__name__}"],
        }
    return {"published": True, "events": ["order:published"]}


@_timed("execute")
def execute(state: RouterState, runtime: Runtime[RouterContext]) -> dict[str, Any]:
    request, intent = state["request"], state.get("intent")
    if intent is None or not request.execute_orders:
        return {"executed": False, "events": ["execute:disabled"]}
    price = newest_close(state["bars"])
    try:
        broker = runtime.context.broker()
    except ConfigError as exc:
        return _not_executed("broker_unconfigured", exc)
    halted = _switch_halts(state, runtime, "submit")
    if halted is not None:  # flipped since the guard ran: the broker never sees the order
        if request.publish_orders and state.get("published"):
            stopped = intent.model_copy(update={"status": OrderStatus.REJECTED, "ts": datetime.now(UTC)})
            halted["events"] += _publish_update(state, runtime, stopped)
        return {"executed": False, **halted}
    if not request.offline_mode:
        # after a crash between submit and the order's record, the venue may have it already
        try:
            known = broker.find_order(intent.client_order_id)
        except Exception as exc:  # cannot tell: sending could place it twice
            return _not_executed("broker_unavailable", exc)
        if known is not None:
            events = ["order:skipped:duplicate", f"order:existing:broker:{known.status}"]
            if request.publish_orders and state.get("published"):
                events += _publish_update(state, runtime, known)  # the record follows the venue
            return {
                "executed": False,
                "execution": known,
                "existing_order": {
                    "client_order_id": known.client_order_id,
                    "status": str(known.status),
                    "source": "broker",
                    "side": str(known.side),
                },
                "events": events,
            }
    try:
        report = broker.submit(intent, market_price=price)
    except OrderRejected as exc:
        update = _not_executed("broker_rejected", exc)
        if request.publish_orders:
            rejected = intent.model_copy(update={"status": OrderStatus.REJECTED, "ts": datetime.now(UTC)})
            update["events"] += _publish_update(state, runtime, rejected)
        return update
    except Exception as exc:  # unreachable venue, protocol error: nothing was confirmed
        return _not_executed("broker_unavailable", exc)
    events = ["order:executed", f"broker:{broker.kind}:{report.status}"]
    if request.publish_orders:
        events += _publish_update(state, runtime, report)
    return {"executed": True, "execution": report, "events": events}


def _switch_halts(state: RouterState, runtime: Runtime[RouterContext], stage: str) -> dict[str, Any] | None:
    """Read the governor again right before an order leaves the process.

    The guard ran a few milliseconds to seconds earlier; an operator's ``kill-switch on`` (or
    a latch to REDUCING) must also stop a run that is past it. HALTED refuses everything,
    REDUCING everything but an order that reduces what is held. ``None`` lets the order go;
    otherwise the update to return (refused, or unreadable: refused, fail closed)."""
    store = runtime.context.guard.store
    reader = getattr(store, "governor_state", None)
    reason: str | None = None
    try:
        if reader is not None:
            governor = GovernorState(reader())
        else:
            governor = GovernorState.HALTED if store.is_active() else GovernorState.ACTIVE
    except Exception as exc:
        reason, detail = KILL_SWITCH_UNAVAILABLE, f"before {stage}: {type(exc).__name__}: {exc}"
    else:
        if governor == GovernorState.ACTIVE:
            return None
        if governor == GovernorState.HALTED:
            reason, detail = KILL_SWITCH_ACTIVE, f"global kill switch turned on before {stage}"
        elif _reduces(state):
            return None
        else:
            reason, detail = (
                KILL_SWITCH_REDUCING,
                f"governor REDUCING before {stage}: the order does not reduce",
            )
    symbol = state["request"].symbol
    log.warning(
        "order refused by the kill switch", extra={"reason": reason, "symbol": symbol, "detail": detail}
    )
    try:
        store.record_trip(reason, detail=detail, symbol=symbol)
    except Exception as exc:  # the order is refused either way; the audit row is best effort
        log.warning("kill switch trip not recorded: %s", exc)
    return {
        "fallback_reason": reason,
        "events": [f"guard:tripped:{reason}", f"order:skipped:{reason}"],
    }


def _reduces(state: RouterState) -> bool:
    """Whether the run's order shrinks what is held without crossing zero: the book's holding in
    target mode, the strategy's replayed position in a drill."""
    intent = state.get("intent")
    if intent is None:
        return False
    if not state["request"].offline_mode:
        qty = state.get("order_qty")
        price = state.get("price")
        if qty is None or price is None or qty == 0:
            return False
        order = GovernorOrder(
            symbol=intent.symbol, side=str(intent.side), notional=abs(qty) * price, price=price
        )
        return is_reducing(order, state.get("held_qty") or _ZERO)
    action = state.get("action")
    return action is not None and action.old_position != 0 and action.new_position == 0


def _not_executed(reason: str, exc: Exception) -> dict[str, Any]:
    return {
        "executed": False,
        "fallback_reason": reason,
        "events": [f"order:skipped:{reason}", f"broker:error:{type(exc).__name__}"],
    }


def _publish_update(state: RouterState, runtime: Runtime[RouterContext], report: OrderEvent) -> list[str]:
    envelope = Envelope.wrap(
        ORDER_EVENT_UPDATE,
        report,
        partition_key=report.symbol,
        correlation_id=state["run_id"],
        event_id=_event_id(report.client_order_id, ORDER_EVENT_UPDATE, report.status, len(report.fills)),
    )
    try:
        runtime.context.bus().publish(runtime.context.settings.EH_HUB_ORDERS, [envelope])
    except Exception as exc:
        return [f"order:update_not_published:{type(exc).__name__}"]
    return ["order:update_published"]
