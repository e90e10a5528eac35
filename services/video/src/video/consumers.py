"""The video service's consumer of booking.events.v1: a room per confirmed booking.

Confirmed → the session exists, hosted by the booking's specialist (by every member of
a collective booking), and its room is scheduled to be prepared when the waiting room
opens; reassigned → the new member hosts it instead; rescheduled → its window moves
(and its room's schedule with it); cancelled, declined, completed or marked a no-show →
it is closed (a live session ends) and its room deleted. The service's recording policy
and waiting room come from ServiceDefined/ServiceUpdated, kept in `video_services`.

Each handler runs in the consumer's transaction (its position, the effects) and saves
the session through the event store, which has transactions of its own: a redelivered
event finds the session already changed, and every command is idempotent.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import psycopg

from kairos.events import Envelope
from kairos.events.booking import (
    BookingCancelled,
    BookingCompleted,
    BookingConfirmed,
    BookingDeclined,
    BookingReassigned,
    BookingRescheduled,
    NoShowMarked,
    PersonErased,
    ServiceDefined,
    ServiceUpdated,
)
from kairos.messaging import Handlers
from kairos.privacy import ErasureLedger, subject_of
from video.application import Sessions
from video.domain import WAITING_ROOM, Recording
from video.effects import close_session_room, schedule_session

CONSUMER = "video"
_OVER: dict[type, str] = {
    BookingCancelled: "cancelled",
    BookingDeclined: "declined",
    BookingCompleted: "completed",
    NoShowMarked: "no_show",
}


def create_tables(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS video_services ("
        " id uuid PRIMARY KEY, recording text NOT NULL, waiting_room_minutes integer NOT NULL)"
    )


def _terms(conn: psycopg.Connection[Any], service_id: UUID) -> tuple[Recording, timedelta]:
    row = conn.execute(
        "SELECT recording, waiting_room_minutes FROM video_services WHERE id = %s",
        (service_id,),
    ).fetchone()
    if row is None:  # defined before this consumer existed and not replayed: the defaults
        return "off", WAITING_ROOM
    return row[0], timedelta(minutes=row[1])


def booking_handlers(app: Sessions, grace: timedelta, ledger: ErasureLedger | None) -> Handlers:
    """The handlers, bound to the store; with `ledger`, taking part in erasures."""
    handlers = Handlers()

    @handlers.on
    def on_service(
        conn: psycopg.Connection[Any], envelope: Envelope, event: ServiceDefined | ServiceUpdated
    ) -> None:
        conn.execute(
            "INSERT INTO video_services (id, recording, waiting_room_minutes)"
            " VALUES (%s, %s, %s) ON CONFLICT (id) DO UPDATE SET"
            " recording = EXCLUDED.recording,"
            " waiting_room_minutes = EXCLUDED.waiting_room_minutes",
            (event.service_id, event.recording, event.waiting_room_minutes),
        )

    @handlers.on
    def on_confirmed(
        conn: psycopg.Connection[Any], envelope: Envelope, event: BookingConfirmed
    ) -> None:
        booking = event.booking
        if booking is None:
            raise ValueError("BookingConfirmed without its booking: republish from booking")
        recording, waiting_room = _terms(conn, booking.service.service_id)
        specialist_id = booking.specialist.specialist_id
        session = app.prepare(
            event.booking_id,
            specialist_id=specialist_id,
            co_hosts=[s for s in booking.specialist_ids if s != specialist_id],
            client_subject=subject_of(booking.client.contact.email),
            starts_at=booking.starts_at,
            ends_at=booking.ends_at,
            waiting_room=waiting_room,
            recording=recording,
        )
        schedule_session(conn, session, str(envelope.event_id), grace)

    @handlers.on
    def on_rescheduled(
        conn: psycopg.Connection[Any], envelope: Envelope, event: BookingRescheduled
    ) -> None:
        session = app.move(event.booking_id, event.starts_at, event.ends_at)
        if session is not None and session.state != "ended":
            schedule_session(conn, session, str(envelope.event_id), grace)

    @handlers.on
    def on_reassigned(
        conn: psycopg.Connection[Any], envelope: Envelope, event: BookingReassigned
    ) -> None:
        app.host_by(event.booking_id, [event.specialist_id])

    @handlers.on
    def on_over(
        conn: psycopg.Connection[Any],
        envelope: Envelope,
        event: BookingCancelled | BookingDeclined | BookingCompleted | NoShowMarked,
    ) -> None:
        """Cancelled or declined, or finished by the specialist (completed, a no-show):
        the room closes; a session still live ends."""
        closed = app.close_session(event.booking_id, _OVER[type(event)], envelope.occurred_at)
        if closed is not None:
            close_session_room(conn, event.booking_id, str(envelope.event_id), envelope.occurred_at)

    if ledger is not None:

        @handlers.on
        def on_person_erased(
            conn: psycopg.Connection[Any], envelope: Envelope, event: PersonErased
        ) -> None:
            """Notes, the only personal data here, are sealed under the client's key,
            which the erasure deleted: nothing is left to forget, so report done."""
            ledger.report(event.erasure_id, CONSUMER)

    return handlers
