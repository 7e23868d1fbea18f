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
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from functools import wraps
from typing import Any

import numpy as np
import pandas as pd
from langgraph.runtime import Runtime

from app.bus.envelope import Envelope
from app.decision import compute_regimes, compute_signals
from app.decision.pipeline import DecisionFrame, decide
from app.domain.orders import ORDER_EVENT_INTENT, ORDER_EVENT_UPDATE, OrderEvent, OrderSide, OrderStatus
from app.errors import ConfigError, InputError, OrderRejected
from app.risk.guard import GuardRequest
from app.risk.kill_switch import KILL_SWITCH_ACTIVE, KILL_SWITCH_UNAVAILABLE
from app.risk.sizing import order_notional
from app.router.state import Action, RouterContext, RouterState
from app.strategies import get_strategy

__all__ = [
    "client_order_id",
    "execute",
    "features",
    "find_action",
    "guard",
    "ingest",
    "priors",
    "publish",
    "risk",
    "strategy",
]

log = logging.getLogger(__name__)

Node = Callable[[RouterState, Runtime[RouterContext]], dict[str, Any]]


def _timed(name: str) -> Callable[[Node], Node]:
    def wrap(node: Node) -> Node:
        @wraps(node)
        def run(state: RouterState, runtime: Runtime[RouterContext]) -> dict[str, Any]:
            started = time.perf_counter()
            update = node(state, runtime)
            update["timings_ms"] = {name: round((time.perf_counter() - started) * 1000, 3)}
            return update

        return run

    return wrap


def client_order_id(symbol: str, strategy: str, bar_time: datetime, side: OrderSide) -> str:
    """The intent's id: the same symbol, strategy, bar and side always give the same id."""
    stamp = bar_time.astimezone(UTC).strftime("%Y%m%dT%H%M")
    digest = hashlib.sha256(f"{symbol}|{strategy}|{bar_time.isoformat()}|{side}".encode()).hexdigest()[:8]
    return f"rt-{strategy}-{symbol}-{stamp}-{side}-{digest}"


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


@_timed("ingest")
def ingest(state: RouterState, runtime: Runtime[RouterContext]) -> dict[str, Any]:
    request, context = state["request"], runtime.context
    if request.offline_mode and context.offline_bars is not None:
        result = context.offline_bars.fetch(
            request.symbol, request.start, request.window_end, request.interval
        )
    else:
        offline = request.offline_mode
        result = context.market_data.fetch(
            "synthetic" if offline else "auto",
            request.symbol,
            request.start,
            request.window_end,
            interval=request.interval,
            use_cache=not offline,
            write_cache=not offline,
        )
    if len(result.bars) == 0:
        raise InputError(f"start: no {request.interval} bars for {request.symbol} in the window")
    return {"vendor": result.vendor, "bars": result.bars, "events": [f"ingest:{result.vendor}"]}


@_timed("features")
def features(state: RouterState, runtime: Runtime[RouterContext]) -> dict[str, Any]:
    signals = compute_signals(state["bars"])
    regimes = compute_regimes(state["bars"], signals)
    return {"signals": signals, "regimes": regimes, "events": ["signals:computed", "regimes:computed"]}


@_timed("strategy")
def strategy(state: RouterState, runtime: Runtime[RouterContext]) -> dict[str, Any]:
    request = state["request"]
    decisions = decide(
        state["bars"],
        state["signals"],
        state["regimes"],
        get_strategy(request.strategy),
        runtime.context.risk,
    )
    action = find_action(decisions.position)
    outcome = "no_change" if action is None else ("buy" if action.side > 0 else "sell")
    return {"decisions": decisions, "action": action, "events": [f"strategy:{request.strategy}:{outcome}"]}


def _bar(decisions: DecisionFrame, state: RouterState) -> int:
    action = state.get("action")
    return action.bar if action is not None else len(decisions) - 1


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


@_timed("priors")
def priors(state: RouterState, runtime: Runtime[RouterContext]) -> dict[str, Any]:
    decisions = state["decisions"]
    i = _bar(decisions, state)
    prob, payoff = _finite(float(decisions.prob[i])), _finite(float(decisions.payoff[i]))
    computed = prob is not None and payoff is not None
    return {
        "prob": prob,
        "payoff": payoff,
        "regime": str(decisions.regime[i]),
        "events": ["priors:computed" if computed else "priors:unavailable"],
    }


@_timed("risk")
def risk(state: RouterState, runtime: Runtime[RouterContext]) -> dict[str, Any]:
    context, request = runtime.context, state["request"]
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
        client_order_id=client_order_id(request.symbol, request.strategy, bar_time, side),
        symbol=request.symbol,
        side=side,
        notional=notional,
        strategy=request.strategy,
        prob=prob,
        frac=min(max(frac, 0.0), 1.0),
        run_id=state["run_id"],
        bar_time=bar_time,
        ts=datetime.now(UTC),
    )
    return {"frac": _finite(frac), "notional": float(notional), "intent": intent, "events": events}


@_timed("guard")
def guard(state: RouterState, runtime: Runtime[RouterContext]) -> dict[str, Any]:
    request, intent = state["request"], state.get("intent")
    decision = runtime.context.guard.check(
        GuardRequest(
            symbol=request.symbol,
            notional=float(intent.notional or 0) if intent is not None else 0.0,
            kill_switch_active=request.kill_switch_active,
            kill_switch_notional=request.kill_switch_notional,
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
        reason = "no_signal" if state.get("action") is None else "zero_size"
        return {"published": False, "executed": False, "events": [f"order:skipped:{reason}"]}
    if request.execute_orders:
        # resolve the broker before anything leaves the process: a run that cannot execute
        # must not leave a published intent behind
        try:
            runtime.context.broker()
        except ConfigError as exc:
            return {"published": False, **_not_executed("broker_unconfigured", exc)}
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
    price = Decimal(str(float(state["bars"]["close"].iloc[-1])))
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
    """Read the global kill switch again right before an order leaves the process.

    The guard ran a few milliseconds to seconds earlier; an operator's ``kill-switch on``
    must also stop a run that is past it. ``None`` lets the order go; otherwise the update
    to return (switch on, or unreadable: refused, fail closed)."""
    store = runtime.context.guard.store
    try:
        active = store.is_active()
    except Exception as exc:
        reason, detail = KILL_SWITCH_UNAVAILABLE, f"before {stage}: {type(exc).__name__}: {exc}"
    else:
        if not active:
            return None
        reason, detail = KILL_SWITCH_ACTIVE, f"global kill switch turned on before {stage}"
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
