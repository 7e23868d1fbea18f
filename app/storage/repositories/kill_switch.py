"""Kill switch repository: the switch's row, its ``kill_switch_events`` audit trail, guard trips.

The switch is one row (``kill_switch`` id 1) holding the governor's state (ACTIVE / REDUCING /
HALTED; ``active`` is kept equal to ``state == 'HALTED'``). Every change is appended as kind
``set`` (reason ``on``/``off``/``reducing``/``reset``, the operator's words in ``detail``), every
refused order as kind ``trip``.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from app.errors import InputError, StorageError
from app.risk.governor import GovernorState
from app.risk.kill_switch import TRIP_REASONS, KillSwitchEventView, KillSwitchStatus
from app.storage.db import Database
from app.storage.models import KillSwitchEvent, KillSwitchState
from app.storage.types import utcnow

__all__ = ["RECONCILE_LATCH_PREFIX", "SWITCH_ID", "KillSwitchRepository"]

log = logging.getLogger("app.risk.kill_switch")

SWITCH_ID = 1
"""Primary key of the switch's single row."""

RECONCILE_LATCH_PREFIX = "reconcile:"
"""``latched_reason`` of a latch set by an unexplained difference between book and broker."""


class KillSwitchRepository:
    """Reads and sets the global switch and appends guard trips to the audit trail."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def is_active(self) -> bool:
        """Return whether the global switch is on.

        Raises:
            StorageError: the database did not answer (callers must then refuse orders).
        """
        try:
            with self._db.session() as session:
                active = session.scalar(select(KillSwitchState.active).where(KillSwitchState.id == SWITCH_ID))
        except SQLAlchemyError as exc:
            raise StorageError(f"kill switch state unreadable: {type(exc).__name__}: {exc}") from exc
        return bool(active)

    def status(self) -> KillSwitchStatus:
        """Return the switch's state and the trip counts per reason.

        Raises:
            StorageError: the database did not answer.
        """
        try:
            with self._db.session() as session:
                row = session.get(KillSwitchState, SWITCH_ID)
                counts = session.execute(
                    select(KillSwitchEvent.reason, func.count())
                    .where(KillSwitchEvent.kind == "trip")
                    .group_by(KillSwitchEvent.reason)
                ).all()
                state = (
                    None
                    if row is None
                    else (row.active, row.reason, row.actor, row.updated_at, row.state, row.latched_reason)
                )
        except SQLAlchemyError as exc:
            raise StorageError(f"kill switch state unreadable: {type(exc).__name__}: {exc}") from exc
        trips = dict.fromkeys(TRIP_REASONS, 0)
        trips.update({str(reason): int(count) for reason, count in counts})
        if state is None:
            return KillSwitchStatus(active=False, reason=None, actor=None, updated_at=None, trips=trips)
        active, reason, actor, updated_at, governor, latched = state
        return KillSwitchStatus(
            active=active,
            reason=reason,
            actor=actor,
            updated_at=updated_at,
            trips=trips,
            state=GovernorState.HALTED.value if active else (governor or GovernorState.ACTIVE.value),
            latched_reason=latched,
        )

    def set(self, active: bool, *, reason: str, actor: str) -> KillSwitchStatus:
        """Turn the switch on (HALTED) or off (ACTIVE), recording who did it and why.

        Raises:
            InputError: ``reason`` or ``actor`` is blank.
            StorageError: the database refused the write.
        """
        return self.set_state(
            GovernorState.HALTED if active else GovernorState.ACTIVE, reason=reason, actor=actor
        )

    def reset(self, *, reason: str, actor: str) -> KillSwitchStatus:
        """Clear a latched trip (and any state) back to ACTIVE; the high-water mark is re-based
        at the equity of the next governed check.

        Raises:
            InputError: ``reason`` or ``actor`` is blank.
            StorageError: the database refused the write.
        """
        return self.set_state(GovernorState.ACTIVE, reason=reason, actor=actor, reset=True)

    def set_state(
        self, state: GovernorState | str, *, reason: str, actor: str, reset: bool = False
    ) -> KillSwitchStatus:
        """Put the governor in ``state``, recording who did it and why.

        Leaving a state latched by a loss limit takes :meth:`reset`: ``off`` (ACTIVE) on a
        latched switch is refused, so a drawdown trip is never cleared by accident.

        Raises:
            InputError: unknown state, blank ``reason`` or ``actor``, or a latch not reset.
            StorageError: the database refused the write.
        """
        try:
            target = GovernorState(str(state).upper())
        except ValueError:
            raise InputError(
                f"state: one of {', '.join(s.value for s in GovernorState)}, got {state!r}"
            ) from None
        reason, actor = reason.strip(), actor.strip()
        if not reason:
            raise InputError("reason: say why the kill switch is being changed")
        if not actor:
            raise InputError("actor: say who is changing the kill switch")
        active = target == GovernorState.HALTED
        word = "reset" if reset else {"HALTED": "on", "ACTIVE": "off", "REDUCING": "reducing"}[target.value]
        now = utcnow()
        try:
            with self._db.transaction() as session:
                row = session.get(KillSwitchState, SWITCH_ID, with_for_update=True)
                if row is None:
                    row = KillSwitchState(id=SWITCH_ID)
                    session.add(row)
                elif row.latched_reason and target == GovernorState.ACTIVE and not reset:
                    clear = (
                        "`ai-trader portfolio acknowledge --who ... --why ...` (or `kill-switch reset`)"
                        if row.latched_reason.startswith(RECONCILE_LATCH_PREFIX)
                        else "`ai-trader kill-switch reset --reason ...`"
                    )
                    raise InputError(
                        f"the governor is latched by {row.latched_reason}: clear it with {clear}"
                    )
                row.active, row.state, row.reason, row.actor, row.updated_at = (
                    active,
                    target.value,
                    reason,
                    actor,
                    now,
                )
                if reset:
                    row.latched_reason = None
                    row.high_water_mark = Decimal(0)  # re-based at the next governed check
                session.add(KillSwitchEvent(ts=now, kind="set", reason=word, actor=actor, detail=reason))
        except SQLAlchemyError as exc:
            raise StorageError(f"kill switch not changed: {type(exc).__name__}: {exc}") from exc
        log.log(
            logging.INFO if target == GovernorState.ACTIVE else logging.WARNING,
            "kill switch turned %s",
            word,
            extra={"active": active, "state": target.value, "actor": actor, "reason": reason},
        )
        return self.status()

    def latch(self, reason: str, *, detail: str, actor: str) -> bool:
        """Latch the governor in REDUCING for ``reason`` until an operator clears it.

        ACTIVE becomes REDUCING; REDUCING stays; HALTED stays HALTED (the operator's halt wins)
        but is latched too, so ``off`` is refused until the latch is acknowledged or reset. A
        switch already latched keeps its first reason. Returns whether anything changed (an
        event is appended only then).

        Raises:
            InputError: ``reason`` or ``actor`` is blank.
            StorageError: the database refused the write.
        """
        reason, actor = reason.strip()[:64], actor.strip()[:128]
        if not reason or not actor:
            raise InputError("a latch needs a reason and an actor")
        now = utcnow()
        try:
            with self._db.transaction() as session:
                row = session.get(KillSwitchState, SWITCH_ID, with_for_update=True)
                if row is None:
                    row = KillSwitchState(id=SWITCH_ID, active=False, state=GovernorState.ACTIVE.value)
                    session.add(row)
                if row.latched_reason:
                    return False
                halted = bool(row.active) or row.state == GovernorState.HALTED.value
                row.latched_reason = reason
                if not halted:
                    row.active, row.state = False, GovernorState.REDUCING.value
                row.reason, row.actor, row.updated_at = detail[:500] or reason, actor, now
                session.add(
                    KillSwitchEvent(
                        ts=now,
                        kind="set",
                        reason="reducing",
                        actor=actor,
                        detail=f"latched by {reason}: {detail}",
                    )
                )
        except SQLAlchemyError as exc:
            raise StorageError(f"kill switch not latched: {type(exc).__name__}: {exc}") from exc
        log.warning(
            "kill switch turned reducing",
            extra={
                "state": "HALTED" if halted else "REDUCING",
                "actor": actor,
                "reason": reason,
                "detail": detail,
            },
        )
        return True

    def acknowledge(self, *, prefix: str, who: str, why: str) -> str:
        """Clear a latch whose reason starts with ``prefix`` (the operator has looked at it):
        REDUCING back to ACTIVE (HALTED stays HALTED). Returns the reason cleared.

        Raises:
            InputError: blank ``who``/``why``, or no latch of that kind to clear (a loss-limit
                latch takes ``kill-switch reset``).
            StorageError: the database refused the write.
        """
        who, why = who.strip(), why.strip()
        if not who:
            raise InputError("who: say who acknowledges")
        if not why:
            raise InputError("why: say why it is acknowledged")
        now = utcnow()
        try:
            with self._db.transaction() as session:
                row = session.get(KillSwitchState, SWITCH_ID, with_for_update=True)
                latched = None if row is None else row.latched_reason
                if row is None or not latched or not latched.startswith(prefix):
                    what = (
                        f"latched by {latched}: clear it with `ai-trader kill-switch reset`"
                        if latched
                        else "not latched"
                    )
                    raise InputError(f"nothing to acknowledge: the governor is {what}")
                row.latched_reason = None
                if not row.active and row.state == GovernorState.REDUCING.value:
                    row.state = GovernorState.ACTIVE.value
                row.reason, row.actor, row.updated_at = why[:500], who[:128], now
                session.add(
                    KillSwitchEvent(
                        ts=now, kind="set", reason="acknowledge", actor=who[:128], detail=f"{latched}: {why}"
                    )
                )
        except SQLAlchemyError as exc:
            raise StorageError(f"kill switch not changed: {type(exc).__name__}: {exc}") from exc
        log.info("kill switch latch acknowledged", extra={"actor": who, "reason": why, "latched": latched})
        return latched

    def history(self, limit: int = 50) -> list[KillSwitchEventView]:
        """Return the newest ``limit`` rows of ``kill_switch_events``, newest first.

        Raises:
            InputError: ``limit`` is below 1.
            StorageError: the database did not answer.
        """
        if limit < 1:
            raise InputError(f"limit: must be at least 1, got {limit}")
        try:
            with self._db.session() as session:
                rows = session.scalars(
                    select(KillSwitchEvent)
                    .order_by(KillSwitchEvent.ts.desc(), KillSwitchEvent.id.desc())
                    .limit(limit)
                ).all()
                return [
                    KillSwitchEventView(
                        id=row.id,
                        ts=row.ts,
                        kind=row.kind,
                        reason=row.reason,
                        actor=row.actor,
                        symbol=row.symbol,
                        detail=row.detail,
                    )
                    for row in rows
                ]
        except SQLAlchemyError as exc:
            raise StorageError(f"kill switch history unreadable: {type(exc).__name__}: {exc}") from exc

    def record_trip(
        self, reason: str, *, detail: str = "", symbol: str | None = None, actor: str | None = None
    ) -> None:
        """Append one guard trip to the audit trail.

        Raises:
            StorageError: the database refused the write.
        """
        try:
            with self._db.transaction() as session:
                session.add(
                    KillSwitchEvent(
                        ts=utcnow(),
                        kind="trip",
                        reason=reason[:64],
                        actor=actor,
                        detail=detail or None,
                        symbol=symbol[:32] if symbol else None,
                    )
                )
        except SQLAlchemyError as exc:
            raise StorageError(f"kill switch trip not recorded: {type(exc).__name__}: {exc}") from exc
