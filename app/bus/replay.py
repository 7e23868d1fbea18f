"""Publish dead-lettered events again (``ai-trader bus dead-letters replay``).

Dead letters are events a consumer set aside: undecodable ones, and, before database errors
were classified by meaning, good events that met a database that could not write. After the
cause is fixed, an operator selects dead letters (by id, or all not yet replayed), and each
one that is a valid envelope is published to its hub again, unchanged (same event id and
partition key, so consumers treat it as the redelivery it is), then marked replayed. One that
is not a valid envelope is reported and left alone: it would only be dead-lettered again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from app.bus.decoding import decode_envelope
from app.bus.envelope import Envelope
from app.bus.ports import Bus, DeadLetter, DeadLetterAdmin
from app.errors import BusError, InputError

__all__ = ["ReplayOutcome", "replay_dead_letters"]

MAX_REPLAY = 100_000
"""Most dead letters one replay reads."""


@dataclass(slots=True)
class ReplayOutcome:
    replayed: list[DeadLetter] = field(default_factory=list)
    skipped: list[tuple[DeadLetter, str]] = field(default_factory=list)
    """Selected but not published, with why (already replayed, not an envelope)."""


def replay_dead_letters(
    bus: Bus,
    hub: str,
    group: str,
    *,
    ids: Sequence[str] = (),
    replay_all: bool = False,
    include_replayed: bool = False,
    limit: int = MAX_REPLAY,
    dry_run: bool = False,
) -> ReplayOutcome:
    """Publish the selected dead letters of ``hub``/``group`` again and mark them replayed.

    Raises:
        InputError: neither ``ids`` nor ``replay_all`` (or both), or an id that is not a dead
            letter of this group.
        BusError: the bus cannot list, publish or mark.
    """
    if bool(ids) == replay_all:
        raise InputError("name the dead letters to replay with --id (repeatable), or pass --all")
    if not isinstance(bus, DeadLetterAdmin):
        raise BusError(f"the {bus.kind} bus cannot record replays")
    letters = bus.dead_letters(hub, group, limit)
    if ids:
        by_id = {letter.id: letter for letter in letters}
        unknown = [i for i in ids if i not in by_id]
        if unknown:
            raise InputError(f"not a dead letter of {hub}/{group}: {', '.join(unknown)}")
        selected = [by_id[i] for i in dict.fromkeys(ids)]
    else:
        selected = list(reversed(letters))  # oldest first, as they were first delivered
    outcome = ReplayOutcome()
    publish: list[tuple[DeadLetter, Envelope]] = []
    for letter in selected:
        if letter.replayed_at is not None and not include_replayed:
            outcome.skipped.append((letter, f"already replayed at {letter.replayed_at.isoformat()}"))
            continue
        envelope, error = decode_envelope(letter.raw)
        if envelope is None:
            outcome.skipped.append(
                (letter, f"not a valid envelope ({error}); it would be dead-lettered again")
            )
            continue
        publish.append((letter, envelope))
    if dry_run or not publish:
        outcome.replayed = [letter for letter, _ in publish]
        return outcome
    # publish first, then mark: a crash in between replays those again next time, and the
    # consumers' idempotent writes make that harmless
    bus.publish(hub, [envelope for _, envelope in publish])
    bus.mark_replayed(hub, group, [letter.id for letter, _ in publish])
    outcome.replayed = [letter for letter, _ in publish]
    return outcome
