"""calendar-sync's consumer of booking.events.v1: bookings into the specialists' calendars.

Each handler keeps what it needs of the booking (sealed personal fields only) and
records, in the consumer's transaction, one effect per active connection of each of
its specialists (every member of a collective booking): put the booking's event when
it is confirmed or moves, delete it when it is cancelled or declined. A round-robin
booking reassigned to another member is deleted from the previous member's calendars
and put into the new one's. A redelivered event records the same effect ids again,
which changes nothing; the effects read the booking's current row when they fire,
so an older put that runs late still writes the current time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from pydantic import BaseModel

from calendar_sync.application import Connections
from calendar_sync.tables import BookedEvent, bookings_of_subjects, save_booking, set_zone
from kairos.effects import EffectKind, cancel_effects, record_effect
from kairos.events import Envelope
from kairos.events.booking import (
    BookingCancelled,
    BookingConfirmed,
    BookingDeclined,
    BookingEvent,
    BookingReassigned,
    BookingRescheduled,
    PersonErased,
    ScheduleSet,
    SpecialistRegistered,
)
from kairos.messaging import Handlers
from kairos.privacy import ErasureLedger


class CalendarWrite(BaseModel):
    """Which booking goes into (or out of) which connection's calendar: ids only."""

    booking_id: UUID
    connection_id: UUID


#: Its name in the erasure ledger and its consumer group.
CONSUMER = "calendar-sync"
PUT = EffectKind("calendar.put", CalendarWrite)
DELETE = EffectKind("calendar.delete", CalendarWrite)
# Bookings in these states are in the calendar; the others are taken out.
SHOWN = frozenset({"confirmed", "in_progress", "completed", "no_show"})


def reason_of(booking_id: UUID) -> str:
    return f"booking:{booking_id}"


def write_upcoming(
    conn: psycopg.Connection[Any],
    connection_id: UUID,
    version: int,
    bookings: list[UUID],
    at: datetime,
) -> None:
    """Put a newly connected calendar's specialist's upcoming bookings into it: the
    bookings confirmed before the connection existed appear too. Keyed by the
    connection's version, so connecting again (after a disconnect) writes them again."""
    for booking_id in bookings:
        record_effect(
            conn,
            PUT,
            CalendarWrite(booking_id=booking_id, connection_id=connection_id),
            key=f"connected/{connection_id}/{version}/{booking_id}",
            reason=reason_of(booking_id),
            due_at=at,
        )


def booking_handlers(connections: Connections, ledger: ErasureLedger | None = None) -> Handlers:
    """The handlers, writing to the active connections `connections` knows, taking part
    in erasures through `ledger` when given."""
    handlers = Handlers()

    def record(
        conn: psycopg.Connection[Any],
        envelope: Envelope,
        kind: EffectKind[CalendarWrite],
        booking_id: UUID,
        specialist_id: UUID,
    ) -> None:
        for connection in connections.connections_of(specialist_id):
            if connection.active:
                record_effect(
                    conn,
                    kind,
                    CalendarWrite(booking_id=booking_id, connection_id=connection.id),
                    key=f"{envelope.event_id}/{connection.id}",
                    reason=reason_of(booking_id),
                    due_at=envelope.occurred_at,
                )

    @handlers.on
    def on_booking_event(
        conn: psycopg.Connection[Any], envelope: Envelope, event: BookingEvent
    ) -> None:
        b = event.booking
        if b is None:  # published before snapshots: `republish` sends it again with one
            return
        booked = BookedEvent(
            booking_id=event.booking_id,
            specialist_id=b.specialist.specialist_id,
            status=b.status,
            service_name=b.service.name,
            starts_at=b.starts_at,
            ends_at=b.ends_at,
            time_zone=b.specialist.timezone,
            client_name=b.client.contact.name,
            client_email=b.client.contact.email,
            specialist_ids=tuple(b.specialist_ids),
        )
        save_booking(conn, booked)
        set_zone(conn, b.specialist.specialist_id, b.specialist.timezone)
        members = booked.members
        if isinstance(event, BookingConfirmed | BookingRescheduled) and b.status in SHOWN:
            for member in members:
                record(conn, envelope, PUT, event.booking_id, member)
        elif isinstance(event, BookingCancelled | BookingDeclined):
            cancel_effects(conn, reason_of(event.booking_id), PUT.name)
            for member in members:
                record(conn, envelope, DELETE, event.booking_id, member)
        elif isinstance(event, BookingReassigned):
            # A put still pending for the previous member is dropped here, or by its
            # re-check (they no longer hold the booking) if it was already claimed.
            cancel_effects(conn, reason_of(event.booking_id), PUT.name)
            record(conn, envelope, DELETE, event.booking_id, event.previous_specialist_id)
            if b.status in SHOWN:
                record(conn, envelope, PUT, event.booking_id, event.specialist_id)

    @handlers.on
    def on_person_erased(
        conn: psycopg.Connection[Any], envelope: Envelope, event: PersonErased
    ) -> None:
        """Its table keeps names only sealed (unreadable now), but the calendars hold them
        in clear: each booking of an erased client is put again, and the put reveals
        "[erased]" in place of the name and drops the address. Reported done once the
        puts are recorded (they run after commit)."""
        for booked in bookings_of_subjects(conn, event.subjects):
            for member in booked.members:
                record(conn, envelope, PUT, booked.booking_id, member)
        if ledger is not None:
            ledger.report(event.erasure_id, CONSUMER)

    @handlers.on
    def on_zone(
        conn: psycopg.Connection[Any], envelope: Envelope, event: SpecialistRegistered | ScheduleSet
    ) -> None:
        set_zone(conn, event.specialist_id, str(event.timezone))

    return handlers
