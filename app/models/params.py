"""Champion parameters of each strategy in the model registry's container.

``params/<strategy>.json`` holds the parameter set the router trades; a sweep's best set
replaces it only when the sweep marked it ``promotable``. Every decision, promoted or not, is
recorded as ``param-decisions/<strategy>/<when>.json`` with its reason and numbers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from app.errors import NotFoundError
from app.storage.blob import BlobStore

__all__ = ["champion_parameters", "record_parameters"]


def _params_key(strategy: str) -> str:
    return f"params/{strategy}.json"


def champion_parameters(
    blob: BlobStore, strategy: str, container: str = "trader-models"
) -> dict[str, Any] | None:
    """The promoted parameters of ``strategy`` (with the numbers that promoted them), or None."""
    try:
        record = json.loads(blob.get_text(container, _params_key(strategy)))
    except NotFoundError:
        return None
    return record if isinstance(record, dict) else None


def record_parameters(
    blob: BlobStore,
    strategy: str,
    sweep: Mapping[str, Any],
    *,
    now: datetime,
    container: str = "trader-models",
) -> dict[str, Any]:
    """Decide whether the sweep's best set becomes the champion parameters; record the decision.

    ``sweep`` is the sweep's ``run.json`` content (``best``, ``promotable``, ``promotion_reason``,
    ``robustness``).
    """
    best = sweep.get("best") or {}
    previous = champion_parameters(blob, strategy, container)
    decided_at = now.astimezone(UTC).isoformat()
    decision: dict[str, Any] = {
        "strategy": strategy,
        "decided_at": decided_at,
        "sweep": sweep.get("name"),
        "candidate": {
            "set_id": best.get("set_id"),
            "params": best.get("params"),
            "symbol": best.get("symbol"),
        },
        "promoted": bool(sweep.get("promotable")) and bool(best),
        "reason": sweep.get("promotion_reason") or "no reason recorded",
        "previous": None
        if previous is None
        else {"params": previous.get("params"), "since": previous.get("since")},
    }
    stamp = decided_at.replace(":", "").replace("+", "Z")
    blob.put_text(container, f"param-decisions/{strategy}/{stamp}.json", json.dumps(decision, sort_keys=True))
    if decision["promoted"]:
        record = {
            "params": best.get("params"),
            "set_id": best.get("set_id"),
            "since": decided_at,
            "sweep": sweep.get("name"),
            "reason": decision["reason"],
            "robustness": (sweep.get("robustness") or {}).get(str(best.get("symbol"))),
        }
        blob.put_text(container, _params_key(strategy), json.dumps(record, sort_keys=True, default=str))
    return decision
