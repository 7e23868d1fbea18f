"""``/risk/kill-switch`` and ``/kill-switch``: read and set the global kill switch (the risk
governor's state: ACTIVE / REDUCING / HALTED), with its trip counters.

``POST /risk/kill-switch`` keeps its contract (``active`` true = HALTED, false = ACTIVE);
``POST /kill-switch`` takes the state by name, and ``reset`` to clear a latched loss trip.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.api.deps import KillSwitchDep
from app.api.openapi import problem_responses
from app.risk.kill_switch import KillSwitchStatus
from app.validation import StrictFlag

__all__ = ["GovernorChange", "KillSwitchChange", "KillSwitchView", "governor_router", "router"]

router = APIRouter(prefix="/risk", tags=["risk"])
governor_router = APIRouter(tags=["risk"])


class KillSwitchChange(BaseModel):
    """Body of ``POST /risk/kill-switch``."""

    model_config = ConfigDict(extra="forbid")

    active: StrictFlag
    reason: Annotated[str, Field(min_length=1, max_length=500)]
    actor: Annotated[str, Field(min_length=1, max_length=128)] = "api"


class GovernorChange(BaseModel):
    """Body of ``POST /kill-switch``: the governor's new state and why.

    ``reset=true`` (with ``state`` ACTIVE, the default then) clears a trip latched by the daily
    loss or drawdown limit; leaving a latched state any other way is refused (422).
    """

    model_config = ConfigDict(extra="forbid")

    state: Literal["ACTIVE", "REDUCING", "HALTED"] | None = None
    reset: StrictFlag = False
    reason: Annotated[str, Field(min_length=1, max_length=500)]
    actor: Annotated[str, Field(min_length=1, max_length=128)] = "api"

    @model_validator(mode="after")
    def _state_or_reset(self) -> GovernorChange:
        if self.reset and self.state not in (None, "ACTIVE"):
            raise ValueError("reset returns the governor to ACTIVE; leave state out or set it to ACTIVE")
        if not self.reset and self.state is None:
            raise ValueError("state: one of ACTIVE, REDUCING, HALTED (or reset=true)")
        return self


class KillSwitchView(BaseModel):
    """The switch's state and how often each guard reason has refused an order.

    ``active`` is true when the governor is HALTED; ``state`` is the governor's state and
    ``latched_reason`` the loss limit that latched it (cleared by a reset).
    """

    active: bool
    state: str
    latched_reason: str | None
    reason: str | None
    actor: str | None
    updated_at: datetime | None
    trips: dict[str, int]
    trips_total: int

    @classmethod
    def of(cls, status: KillSwitchStatus) -> KillSwitchView:
        return cls(
            active=status.active,
            state=status.state,
            latched_reason=status.latched_reason,
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


_CHANGE_ERRORS = problem_responses(
    {
        422: "Bad body, or a latched governor asked to leave REDUCING other than by a reset.",
        503: "The database did not answer; the switch is unchanged.",
    }
)


@router.post("/kill-switch", response_model=KillSwitchView, responses=_CHANGE_ERRORS)
def set_kill_switch(change: KillSwitchChange, store: KillSwitchDep) -> KillSwitchView:
    """Turn the global switch on or off; the change is recorded in ``kill_switch_events``."""
    return KillSwitchView.of(store.set(change.active, reason=change.reason, actor=change.actor))


@governor_router.get("/kill-switch", response_model=KillSwitchView)
def get_governor(store: KillSwitchDep) -> KillSwitchView:
    """The governor's state (who set it, why, when, what latched it) and trip counts."""
    return KillSwitchView.of(store.status())


@governor_router.post("/kill-switch", response_model=KillSwitchView, responses=_CHANGE_ERRORS)
def set_governor(change: GovernorChange, store: KillSwitchDep) -> KillSwitchView:
    """Set the governor's state, or ``reset`` a latched trip; recorded in ``kill_switch_events``."""
    if change.reset:
        return KillSwitchView.of(store.reset(reason=change.reason, actor=change.actor))
    return KillSwitchView.of(
        store.set_state(change.state or "ACTIVE", reason=change.reason, actor=change.actor)
    )
