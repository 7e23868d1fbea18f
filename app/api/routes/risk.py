"""``/risk/kill-switch``: read and set the global kill switch, with its trip counters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from app.api.deps import KillSwitchDep
from app.risk.kill_switch import KillSwitchStatus
from app.validation import StrictFlag

__all__ = ["KillSwitchChange", "KillSwitchView", "router"]

router = APIRouter(prefix="/risk", tags=["risk"])


class KillSwitchChange(BaseModel):
    """Body of ``POST /risk/kill-switch``."""

    model_config = ConfigDict(extra="forbid")

    active: StrictFlag
    reason: Annotated[str, Field(min_length=1, max_length=500)]
    actor: Annotated[str, Field(min_length=1, max_length=128)] = "api"


class KillSwitchView(BaseModel):
    """The switch's state and how often each guard reason has refused an order."""

    active: bool
    reason: str | None
    actor: str | None
    updated_at: datetime | None
    trips: dict[str, int]
    trips_total: int

    @classmethod
    def of(cls, status: KillSwitchStatus) -> KillSwitchView:
        return cls(
            active=status.active,
            reason=status.reason,
            actor=status.actor,
            updated_at=status.updated_at,
            trips=status.trips,
            trips_total=status.trips_total,
        )


@router.get("/kill-switch", response_model=KillSwitchView)
def get_kill_switch(store: KillSwitchDep) -> KillSwitchView:
    """The global switch (who set it, why, when) and trip counts per ``kill_switch_*`` reason."""
    return KillSwitchView.of(store.status())


@router.post("/kill-switch", response_model=KillSwitchView)
def set_kill_switch(change: KillSwitchChange, store: KillSwitchDep) -> KillSwitchView:
    """Turn the global switch on or off; the change is recorded in ``kill_switch_events``."""
    return KillSwitchView.of(store.set(change.active, reason=change.reason, actor=change.actor))
