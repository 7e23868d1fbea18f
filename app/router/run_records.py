"""What a router run did, kept for the order it produced: its events, guard verdict and timings.

A run that produced an order intent is recorded as a small JSON object in the data container
(``router-runs/orders/<client_order_id>.json``), so the console can show an order's router
run next to its fills. A later run for the same order (publish, then execute) replaces the
record: the newest run is the one that moved the order last. Runs without an intent are not
recorded; the API response and the logs already say why nothing was ordered.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from app.errors import NotFoundError
from app.router.schemas import RouterRunResult
from app.storage.blob import BlobStore

__all__ = ["RUNS_PREFIX", "read_order_run", "record_run", "run_key"]

RUNS_PREFIX = "router-runs/orders"


def run_key(client_order_id: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in client_order_id)
    return f"{RUNS_PREFIX}/{safe}.json"


def run_record(result: RouterRunResult) -> dict[str, Any]:
    return {
        "run_id": result.run_id,
        "client_order_id": result.intent.client_order_id if result.intent is not None else None,
        "symbol": result.symbol,
        "strategy": result.strategy,
        "vendor": result.vendor,
        "bars": result.bars,
        "signal_bar_time": result.signal_bar_time.isoformat() if result.signal_bar_time else None,
        "regime": result.regime,
        "events": list(result.events),
        "prob": result.prob,
        "frac": result.frac,
        "notional": result.notional,
        "guard": result.guard.model_dump() if result.guard is not None else None,
        "published": result.published,
        "executed": result.executed,
        "fallback_reason": result.fallback_reason,
        "total_ms": result.total_ms,
        "recorded_at": datetime.now(UTC).isoformat(),
    }


def record_run(blob: BlobStore, container: str, result: RouterRunResult) -> bool:
    """Store ``result`` under its order; ``False`` when the run produced no intent.

    Raises:
        StorageError: the blob store refused the write.
    """
    if result.intent is None:
        return False
    blob.put_text(container, run_key(result.intent.client_order_id), json.dumps(run_record(result)))
    return True


def read_order_run(blob: BlobStore, container: str, client_order_id: str) -> dict[str, Any] | None:
    """The newest recorded run of the order, or ``None`` when none was recorded."""
    try:
        data = json.loads(blob.get_text(container, run_key(client_order_id)))
    except NotFoundError:
        return None
    return data if isinstance(data, dict) else None
