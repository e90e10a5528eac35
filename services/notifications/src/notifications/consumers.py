"""The notifications consumer's handlers: each keeps the booking as it stands and
records what must be sent (effects, ARCHITECTURE.md rule 6); nothing is sent here.

- confirmed at once: "confirmation" (invite REQUEST) to the client, "new_booking" to
  the specialist, and the reminders of the service's schedule;
- pending: "pending" to the client, "approval_request" to the specialist; approved
  (confirmed after pending): "confirmed" with the invite, and the reminders;
- declined: "declined" with METHOD:CANCEL;
- cancelled: "cancelled" with METHOD:CANCEL to both, and the pending reminders dropped;
- rescheduled: "rescheduled" with the invite at SEQUENCE+1 to both, and the pending
  reminders replaced by the new time's;
- reassigned (a round-robin booking, to another member of its team): "new_booking"
  with the invite to the new member, "cancelled" with METHOD:CANCEL to the previous
  one, "reassigned" to the client (their invite updated: its organizer changed; and a
  confirmation still unsent, dropped with the version it was about, is replaced by it),
  and the reminders replaced by the new member's;
- a no-show marked against the client: the "no_show_notice";
- a person erased: what is kept of them forgotten (notifications.erasure).

Whatever goes to "the specialist" goes to each member of a collective booking.

An effect's key is the message's own identity, (booking, message, recipient,
version) like its Message-ID, so however often an event arrives, and under
whatever event id, each message is recorded once. A booking that has ended stays
ended: a late copy of an earlier event changes nothing, and a copy of a
reschedule does not move the invite's SEQUENCE again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
from pydantic import BaseModel

from kairos.effects import EffectKind, cancel_effects, record_effect
from kairos.events import Envelope
from kairos.events.booking import (
    BookingCancelled,
    BookingCompleted,
    BookingConfirmed,
    BookingDeclined,
    BookingEvent,
    BookingPending,
    BookingReassigned,
    BookingRescheduled,
    BookingSnapshot,
    BookingStarted,
    NoShowMarked,
    PersonErased,
    ServiceDefined,
    ServiceUpdated,
)
from kairos.messaging import Handlers
from notifications.erasure import ERASURE_REPORT, ErasureReport, erasure_reason
from notifications.invite import Method
from notifications.messages import MessageKind
from notifications.schedule import Channel, Recipient, due_reminders
from notifications.tables import (
    BookingRow,
    booking_row,
    forget_subjects,
    reminder_rules,
    save_booking,
    save_terms,
)

log = logging.getLogger("notifications.consumers")


class Notice(BaseModel):
    """An e-mail sent as soon as its event is applied. Ids only: the message is built
    from the booking as it stands when it is sent."""

    booking_id: UUID
    message: MessageKind
    recipient: Recipient
    version: int  # the booking's sequence when it was recorded
    invite: Method | None = None
    # To "specialist": which one, when not the booking's own (a collective booking's
    # other member, the member it was reassigned from; BookingRow.addressed).
    specialist_id: UUID | None = None


class Reminder(BaseModel):
    booking_id: UUID
    recipient: Recipient
    version: int
    before_seconds: int
    with_join_link: bool
    specialist_id: UUID | None = None  # as Notice's

    @property
    def before(self) -> timedelta:
        return timedelta(seconds=self.before_seconds)


NOTICE = EffectKind("notifications.notice", Notice)
REMINDERS: dict[Channel, EffectKind[Reminder]] = {
    channel: EffectKind(f"notifications.reminder.{channel}", Reminder)
    for channel in ("email", "sms", "push")
}
REMINDER_PREFIX = "notifications.reminder."

#: Which messages an event sends, to whom.
Messages = tuple[tuple[MessageKind, Recipient], ...]

handlers = Handlers()


def booking_reason(booking_id: UUID) -> str:
    return f"booking:{booking_id}"


#: Which specialists a message to "the specialist" goes to: None is the booking's own.
Specialists = Sequence[UUID | None]


def _specialists(booking: BookingSnapshot) -> Specialists:
    """The booking's own specialist, and a collective booking's other members."""
    return [None, *(member.specialist_id for member in booking.co_specialists)]


def _addressees(recipient: Recipient, specialists: Specialists) -> list[tuple[UUID | None, str]]:
    """Each addressee of `recipient` (which specialist, None for the booking's own or the
    client), with what their effect's key adds (nothing for the booking's own: keys
    recorded before teams stay the same)."""
    if recipient != "specialist":
        return [(None, "")]
    return [(s, "" if s is None else f":{s}") for s in specialists]


def _notice(
    conn: psycopg.Connection[Any],
    envelope: Envelope,
    booking_id: UUID,
    applied: Applied,
    messages: Messages,
    invite: Method | None = None,
    specialists: Specialists | None = None,
) -> None:
    """Record each (message, recipient) about the booking as applied as an e-mail due at
    once; "the specialist" is each of `specialists` (default: the booking's)."""
    version = applied.version
    if specialists is None:
        specialists = _specialists(applied.booking)
    for message, recipient in messages:
        for specialist_id, to in _addressees(recipient, specialists):
            notice = Notice(
                booking_id=booking_id,
                message=message,
                recipient=recipient,
                version=version,
                invite=invite,
                specialist_id=specialist_id,
            )
            record_effect(
                conn,
                NOTICE,
                notice,
                key=f"{booking_id}:{message}:{recipient}{to}:v{version}",
                reason=booking_reason(booking_id),
                due_at=envelope.occurred_at,
            )


def _schedule_reminders(
    conn: psycopg.Connection[Any],
    booking_id: UUID,
    booking: BookingSnapshot,
    version: int,
    now: datetime,
) -> None:
    """Record the booking's reminders still ahead of `now` (when it was booked or moved),
    those to the specialist to each of its specialists."""
    for due in due_reminders(
        reminder_rules(conn, booking.service.service_id), booking.starts_at, now
    ):
        for specialist_id, to in _addressees(due.recipient, _specialists(booking)):
            record_effect(
                conn,
                REMINDERS[due.channel],
                Reminder(
                    booking_id=booking_id,
                    recipient=due.recipient,
                    version=version,
                    before_seconds=int(due.before.total_seconds()),
                    with_join_link=due.with_join_link,
                    specialist_id=specialist_id,
                ),
                key=f"{booking_id}:v{version}:{due.key}{to}",
                reason=booking_reason(booking_id),
                due_at=due.due_at,
            )


def _snapshot(envelope: Envelope, event: BookingEvent) -> BookingSnapshot | None:
    if event.booking is None:
        # Published before events carried the booking: nothing to tell anyone with.
        log.warning("%s %s has no booking snapshot: skipped", envelope.type, envelope.event_id)
    return event.booking


def _sequence(previous: BookingRow | None) -> int:
    return previous.sequence if previous is not None else 0


#: Where a booking's life ends: a later copy of an earlier event (a producer's retry,
#: a republish) must not bring it back, nor bump its invite again.
FINAL: frozenset[str] = frozenset({"cancelled", "declined", "completed", "no_show"})


@dataclass(frozen=True)
class Applied:
    booking: BookingSnapshot
    version: int  # the booking's sequence after the event
    previous: BookingRow | None


def _apply(
    conn: psycopg.Connection[Any],
    envelope: Envelope,
    event: BookingEvent,
    *,
    bump: bool = False,
    unless: frozenset[str] = frozenset(),
    repeats: Callable[[BookingRow], bool] | None = None,
    reason: str | None = None,
    previous_starts_at: datetime | None = None,
    reassigned: bool = False,
) -> Applied | None:
    """Keep the booking as `event` leaves it (its sequence +1 with `bump`); None when the
    event changes nothing: it has no snapshot, the booking has ended or is in a status
    of `unless`, the event `repeats` what the booking already shows, or it happened
    before the event the booking stands at. When `reassigned`, the specialist it stood
    with is kept as its former one."""
    previous = booking_row(conn, event.booking_id)
    if (booking := _snapshot(envelope, event)) is None:
        return None
    if previous is not None and (
        previous.status in FINAL | unless
        or (repeats is not None and repeats(previous))
        # A late copy of an event older than the one the booking stands at (a copy of
        # the first of two reschedules): it would move the booking back.
        or envelope.occurred_at < previous.updated_at
    ):
        return None
    version = _sequence(previous) + (1 if bump else 0)
    save_booking(
        conn,
        event.booking_id,
        booking,
        sequence=version,
        at=envelope.occurred_at,
        reason=reason,
        previous_starts_at=previous_starts_at,
        former_specialist=previous.snapshot.specialist if reassigned and previous else None,
    )
    return Applied(booking, version, previous)


@handlers.on
def on_service_defined(
    conn: psycopg.Connection[Any], envelope: Envelope, event: ServiceDefined | ServiceUpdated
) -> None:
    save_terms(conn, event)


@handlers.on
def on_booking_pending(
    conn: psycopg.Connection[Any], envelope: Envelope, event: BookingPending
) -> None:
    if (applied := _apply(conn, envelope, event, unless=frozenset({"confirmed"}))) is None:
        return
    messages: Messages = (("pending", "client"), ("approval_request", "specialist"))
    _notice(conn, envelope, event.booking_id, applied, messages)


@handlers.on
def on_booking_confirmed(
    conn: psycopg.Connection[Any], envelope: Envelope, event: BookingConfirmed
) -> None:
    if (applied := _apply(conn, envelope, event, unless=frozenset({"in_progress"}))) is None:
        return
    approved = applied.previous is not None and applied.previous.status == "pending"
    messages: Messages = (
        (("confirmed", "client"),)
        if approved
        else (("confirmation", "client"), ("new_booking", "specialist"))
    )
    _notice(conn, envelope, event.booking_id, applied, messages, "REQUEST")
    _schedule_reminders(
        conn, event.booking_id, applied.booking, applied.version, envelope.occurred_at
    )


@handlers.on
def on_booking_rescheduled(
    conn: psycopg.Connection[Any], envelope: Envelope, event: BookingRescheduled
) -> None:
    def same_move(previous: BookingRow) -> bool:
        return (
            previous.snapshot.starts_at == event.starts_at
            and previous.previous_starts_at == event.previous_starts_at
        )

    applied = _apply(
        conn,
        envelope,
        event,
        bump=True,
        unless=frozenset({"in_progress"}),
        repeats=same_move,
        previous_starts_at=event.previous_starts_at,
    )
    if applied is None:
        return
    cancel_effects(conn, booking_reason(event.booking_id), REMINDER_PREFIX)
    messages: Messages = (("rescheduled", "client"), ("rescheduled", "specialist"))
    _notice(conn, envelope, event.booking_id, applied, messages, "REQUEST")
    if applied.booking.status == "confirmed":
        _schedule_reminders(
            conn, event.booking_id, applied.booking, applied.version, envelope.occurred_at
        )


@handlers.on
def on_booking_ended(
    conn: psycopg.Connection[Any], envelope: Envelope, event: BookingCancelled | BookingDeclined
) -> None:
    """A cancel or decline: the invite is withdrawn (SEQUENCE+1) and the reminders dropped."""
    if (applied := _apply(conn, envelope, event, bump=True, reason=event.reason)) is None:
        return
    cancel_effects(conn, booking_reason(event.booking_id), REMINDER_PREFIX)
    messages: Messages = (
        (("declined", "client"),)
        if isinstance(event, BookingDeclined)
        else (("cancelled", "client"), ("cancelled", "specialist"))
    )
    _notice(conn, envelope, event.booking_id, applied, messages, "CANCEL")


#: What the member a booking was reassigned from reads in their cancellation.
REASSIGNED_REASON = "Reassigned to another member of the team"


@handlers.on
def on_booking_reassigned(
    conn: psycopg.Connection[Any], envelope: Envelope, event: BookingReassigned
) -> None:
    """The new member gets the booking with its invite and the specialist's reminders;
    the previous one its cancellation (their invite withdrawn). SEQUENCE+1, as the
    invite's attendee changed."""

    def same_member(previous: BookingRow) -> bool:
        return previous.snapshot.specialist.specialist_id == event.specialist_id

    applied = _apply(
        conn,
        envelope,
        event,
        bump=True,
        unless=frozenset({"in_progress"}),
        repeats=same_member,
        reason=REASSIGNED_REASON,
        reassigned=True,
    )
    if applied is None:
        return
    booking_id = event.booking_id
    cancel_effects(conn, booking_reason(booking_id), REMINDER_PREFIX)
    if applied.booking.status == "confirmed":
        confirmed: Messages = (("reassigned", "client"), ("new_booking", "specialist"))
        _notice(conn, envelope, booking_id, applied, confirmed, "REQUEST")
        _schedule_reminders(
            conn, booking_id, applied.booking, applied.version, envelope.occurred_at
        )
    else:  # pending: the new member is the one to approve it
        pending: Messages = (("reassigned", "client"), ("approval_request", "specialist"))
        _notice(conn, envelope, booking_id, applied, pending)
    withdrawn: Messages = (("cancelled", "specialist"),)
    _notice(
        conn, envelope, booking_id, applied, withdrawn, "CANCEL", [event.previous_specialist_id]
    )


@handlers.on
def on_booking_progressed(
    conn: psycopg.Connection[Any], envelope: Envelope, event: BookingStarted | BookingCompleted
) -> None:
    """Kept so that the reminders' re-check sees a consultation that began or ended."""
    _apply(conn, envelope, event)


@handlers.on
def on_no_show_marked(
    conn: psycopg.Connection[Any], envelope: Envelope, event: NoShowMarked
) -> None:
    if (applied := _apply(conn, envelope, event)) is not None and event.party == "client":
        _notice(conn, envelope, event.booking_id, applied, (("no_show_notice", "client"),))


@handlers.on
def on_person_erased(
    conn: psycopg.Connection[Any], envelope: Envelope, event: PersonErased
) -> None:
    """Forget what is kept of the erased people (notifications.erasure), and report
    done to the ledger once that has committed."""
    forget_subjects(conn, event.subjects)
    record_effect(
        conn,
        ERASURE_REPORT,
        ErasureReport(erasure_id=event.erasure_id),
        key=str(event.erasure_id),
        reason=erasure_reason(event.erasure_id),
        due_at=envelope.occurred_at,
    )
