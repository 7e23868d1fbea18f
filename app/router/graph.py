"""The router as a LangGraph ``StateGraph``, compiled once per process.

::

    ingest -+-> features -> strategy -> priors -> book -+-> risk -> guard -+-> publish -+-> execute -> END
            |                                           |                  |            |
            +-> END (stale_data)                        +-> END            +-> END      +-> END
    (target mode: no fresh completed bar; book unreadable or the order exists already;
     guard tripped; nothing published when asked to)
"""

from __future__ import annotations

import itertools
import time
import uuid
from decimal import Decimal
from functools import lru_cache
from typing import Any, cast

import pandas as pd
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from app.router import nodes
from app.router.schemas import GuardView, RouterRunRequest, RouterRunResult
from app.router.state import RouterContext, RouterState

__all__ = ["NODE_NAMES", "build_graph", "compiled_graph", "run_router"]

NODE_NAMES = ("ingest", "features", "strategy", "priors", "book", "risk", "guard", "publish", "execute")


def _after_ingest(state: RouterState) -> str:
    return END if state.get("fallback_reason") is not None else "features"


def _after_book(state: RouterState) -> str:
    if state.get("fallback_reason") is not None or state.get("existing_order") is not None:
        return END
    return "risk"


def _after_guard(state: RouterState) -> str:
    return "publish" if state["guard"].allowed else END


def _after_publish(state: RouterState) -> str:
    if state.get("intent") is None or state.get("fallback_reason") is not None:
        return END
    return "execute"


def build_graph() -> StateGraph[RouterState, RouterContext, RouterState, RouterState]:
    """The router's graph, not yet compiled."""
    graph = StateGraph(RouterState, context_schema=RouterContext)
    for name in NODE_NAMES:
        graph.add_node(name, getattr(nodes, name))
    graph.add_edge(START, "ingest")
    graph.add_conditional_edges("ingest", _after_ingest, ["features", END])
    for left, right in itertools.pairwise(("features", "strategy", "priors", "book")):
        graph.add_edge(left, right)
    graph.add_conditional_edges("book", _after_book, ["risk", END])
    graph.add_edge("risk", "guard")
    graph.add_conditional_edges("guard", _after_guard, ["publish", END])
    graph.add_conditional_edges("publish", _after_publish, ["execute", END])
    graph.add_edge("execute", END)
    return graph


@lru_cache(maxsize=1)
def compiled_graph() -> CompiledStateGraph[RouterState, RouterContext, RouterState, RouterState]:
    """The compiled graph, shared by every run in this process."""
    return build_graph().compile(name="router")


def run_router(
    request: RouterRunRequest,
    context: RouterContext,
    *,
    run_id: str | None = None,
    ingested: dict[str, Any] | None = None,
) -> RouterRunResult:
    """Run the graph once and summarise the outcome.

    ``ingested`` is what :func:`app.router.nodes.ingest_bars` returned for ``request`` when
    the bars were read ahead of the run (a routing pass): the run decides on those bars.

    Raises:
        InputError, VendorRejected, VendorUnavailable, DataQualityError: the bars could not be
            ingested or used; no order was created.
    """
    started = time.perf_counter()
    rid = run_id or uuid.uuid4().hex
    initial: RouterState = {"request": request, "run_id": rid, "events": [], "timings_ms": {}}
    if ingested is not None:
        initial["ingested"] = ingested
    state = cast(RouterState, compiled_graph().invoke(initial, context=context))
    guard = state.get("guard")
    intent = state.get("intent")
    if guard is not None and guard.allowed and intent is not None and not state.get("published"):
        # admitted but never published: the order consumer will not write it, so its
        # reservation must not hold the limits until it expires
        context.guard.release(intent.client_order_id)
    decisions = state.get("decisions")
    action = state.get("action")
    bars = state.get("bars")
    latest = signal = None
    if decisions is not None and len(decisions):
        latest = decisions.at(-1).timestamp
        if action is not None:
            signal = decisions.at(action.bar).timestamp
        elif not request.offline_mode:  # target mode decides on the newest completed bar
            signal = latest
    elif bars is not None and len(bars):  # stopped before deciding (stale data)
        latest = pd.Timestamp(bars.index[-1]).to_pydatetime()
    return RouterRunResult(
        run_id=rid,
        symbol=request.symbol,
        strategy=request.strategy,
        vendor=state.get("vendor"),
        bars=0 if bars is None else len(bars),
        latest_bar_time=latest,
        signal_bar_time=signal,
        regime=state.get("regime"),
        params=state.get("params", {}),
        params_source=state.get("params_source"),
        prior=state.get("prior"),
        position=state.get("position"),
        events=state.get("events", []),
        intent=state.get("intent"),
        prob=state.get("prob"),
        payoff=state.get("payoff"),
        frac=state.get("frac"),
        notional=state.get("notional"),
        guard=None
        if guard is None
        else GuardView(
            allowed=guard.allowed,
            reason=guard.reason,
            detail=guard.detail,
            limit_use=guard.limit_use,
            limit_warnings=guard.warnings,
        ),
        published=bool(state.get("published", False)),
        executed=bool(state.get("executed", False)),
        execution=state.get("execution"),
        fallback_reason=state.get("fallback_reason"),
        timings_ms=state.get("timings_ms", {}),
        total_ms=round((time.perf_counter() - started) * 1000, 3),
        decision_mode=state.get("decision_mode"),
        equity=state.get("equity"),
        equity_source=state.get("equity_source"),
        target_qty=_qty(state.get("target_qty")),
        held_qty=_qty(state.get("held_qty")),
        pending_qty=_qty(state.get("pending_qty")),
        order_qty=_qty(state.get("order_qty")),
        existing_order=state.get("existing_order"),
    )


def _qty(value: Decimal | None) -> float | None:
    return None if value is None else float(value)
