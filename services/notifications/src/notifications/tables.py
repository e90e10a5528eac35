"""Notifications' own tables: each booking as it last stood, each service's terms, and
each booking's video room as video.events.v1 tells it (notifications.video_rooms).

The service definitions are projected from ServiceDefined/ServiceUpdated (they come
on the same partition as the specialist's bookings, before them). The handlers write
them in the consumer's transaction; the effects read them when
they fire, so a message is built from the booking as it is then (and skipped when
its booking moved on). A booking row holds the event's snapshot, contact details
included: it is personal data and goes with an erasure (ARCHITECTURE.md rule 7).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from kairos.ddl import create_if_missing
from kairos.events.booking import (
    BookedSpecialist,
    BookingSnapshot,
    BookingStatus,
    Reminder,
    ServiceDefinition,
)
from kairos.providers.push import PushSubscription
from notifications.appointment import Terms
from notifications.schedule import DEFAULT_REMINDERS, ReminderRule, rules_of

_DDL = """
CREATE TABLE IF NOT EXISTS notification_bookings (
    booking_id uuid PRIMARY KEY,
    status text NOT NULL,
    -- the invite's SEQUENCE and the messages' version: +1 on each reschedule and on cancel
    sequence integer NOT NULL,
    snapshot jsonb NOT NULL,
    reason text,
    previous_starts_at timestamptz,
    updated_at timestamptz NOT NULL
);
-- The member a round-robin booking was last reassigned from (BookedSpecialist): its
-- cancellation is addressed to them.
ALTER TABLE notification_bookings ADD COLUMN IF NOT EXISTS former_specialist jsonb;
-- Browsers' Web Push subscriptions: a client's per booking, a specialist's per specialist.
CREATE TABLE IF NOT EXISTS push_subscriptions (
    id uuid PRIMARY KEY,
    owner text NOT NULL,
    endpoint text NOT NULL,
    p256dh text NOT NULL,
    auth text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS push_subscriptions_owner ON push_subscriptions (owner);
CREATE TABLE IF NOT EXISTS notification_services (
    service_id uuid PRIMARY KEY,
    price numeric,
    currency text,
    cancellation_hours integer NOT NULL
);
-- The service's `reminders` setting (NULL: the defaults) and its no-show notice.
ALTER TABLE notification_services ADD COLUMN IF NOT EXISTS reminders jsonb;
ALTER TABLE notification_services ADD COLUMN IF NOT EXISTS no_show_notice text;
-- A booking's video room: when its waiting room opens, and whether it closed for good.
CREATE TABLE IF NOT EXISTS notification_video_rooms (
    booking_id uuid PRIMARY KEY,
    opens_at timestamptz,  -- NULL while only its closing is known (events out of order)
    closed_at timestamptz,
    updated_at timestamptz NOT NULL  -- when the window event it stands at happened
);
"""
_DDL_LOCK = 0x6B6169726F730020


def create_tables(conn: psycopg.Connection[Any]) -> None:
    create_if_missing(conn, _DDL_LOCK, _DDL)


@dataclass(frozen=True)
class BookingRow:
    booking_id: UUID
    status: BookingStatus
    sequence: int
    snapshot: BookingSnapshot
    reason: str | None
    previous_starts_at: datetime | None
    updated_at: datetime  # when the event that left it so happened
    former_specialist: BookedSpecialist | None = None

    def addressed(self, specialist_id: UUID | None) -> BookingRow | None:
        """The booking as a message to `specialist_id` reads it: with them as its
        specialist (a collective booking's other member, or the member it was reassigned
        from); None (the default) is the booking's own specialist. None if they have no
        part in it."""
        own = self.snapshot.specialist
        if specialist_id is None or specialist_id == own.specialist_id:
            return self
        others = [*self.snapshot.co_specialists, *filter(None, [self.former_specialist])]
        for member in others:
            if member.specialist_id == specialist_id:
                return replace(
                    self, snapshot=self.snapshot.model_copy(update={"specialist": member})
                )
        return None


def save_booking(
    conn: psycopg.Connection[Any],
    booking_id: UUID,
    snapshot: BookingSnapshot,
    *,
    sequence: int,
    at: datetime,
    reason: str | None = None,
    previous_starts_at: datetime | None = None,
    former_specialist: BookedSpecialist | None = None,
) -> None:
    """Keep the booking as it now stands; the member it was reassigned from stays known
    until another reassignment (a later event names none)."""
    former = Jsonb(former_specialist.model_dump(mode="json")) if former_specialist else None
    conn.execute(
        "INSERT INTO notification_bookings (booking_id, status, sequence, snapshot, reason,"
        " previous_starts_at, updated_at, former_specialist)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (booking_id) DO UPDATE SET status = EXCLUDED.status,"
        " sequence = EXCLUDED.sequence, snapshot = EXCLUDED.snapshot, reason = EXCLUDED.reason,"
        " previous_starts_at = EXCLUDED.previous_starts_at, updated_at = EXCLUDED.updated_at,"
        " former_specialist = COALESCE("
        "EXCLUDED.former_specialist, notification_bookings.former_specialist)",
        (
            booking_id,
            snapshot.status,
            sequence,
            Jsonb(snapshot.model_dump(mode="json")),
            reason,
            previous_starts_at,
            at,
            former,
        ),
    )


def booking_row(conn: psycopg.Connection[Any], booking_id: UUID) -> BookingRow | None:
    return booking_rows(conn, [booking_id]).get(booking_id)


def booking_rows(
    conn: psycopg.Connection[Any], booking_ids: Collection[UUID]
) -> dict[UUID, BookingRow]:
    """The bookings known here of `booking_ids`, in one query (a dispatcher's batch)."""
    rows = conn.execute(
        "SELECT booking_id, status, sequence, snapshot, reason, previous_starts_at, updated_at,"
        " former_specialist FROM notification_bookings WHERE booking_id = ANY(%s)",
        (list(booking_ids),),
    ).fetchall()
    return {row[0]: _booking_row(*row) for row in rows}


def _booking_row(
    booking_id: UUID,
    status: BookingStatus,
    sequence: int,
    snapshot: Any,
    reason: str | None,
    previous_starts_at: datetime | None,
    updated_at: datetime,
    former: Any,
) -> BookingRow:
    return BookingRow(
        booking_id,
        status,
        sequence,
        BookingSnapshot.model_validate(snapshot),
        reason,
        previous_starts_at,
        updated_at,
        BookedSpecialist.model_validate(former) if former is not None else None,
    )


def save_terms(conn: psycopg.Connection[Any], service: ServiceDefinition) -> None:
    """Keep the service's definition as notifications needs it (the whole definition
    arrives with every change, so it just replaces the last)."""
    reminders = (
        None
        if service.reminders is None
        else Jsonb([r.model_dump(mode="json") for r in service.reminders])
    )
    conn.execute(
        "INSERT INTO notification_services"
        " (service_id, price, currency, cancellation_hours, reminders, no_show_notice)"
        " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (service_id) DO UPDATE SET"
        " price = EXCLUDED.price, currency = EXCLUDED.currency,"
        " cancellation_hours = EXCLUDED.cancellation_hours, reminders = EXCLUDED.reminders,"
        " no_show_notice = EXCLUDED.no_show_notice",
        (
            service.service_id,
            service.price,
            service.currency,
            service.cancellation_hours,
            reminders,
            service.no_show_notice,
        ),
    )


def terms_of(conn: psycopg.Connection[Any], service_id: UUID) -> Terms:
    """The service's terms; the defaults of API.md for a service not seen (yet)."""
    return terms_of_services(conn, [service_id])[service_id]


def terms_of_services(
    conn: psycopg.Connection[Any], service_ids: Collection[UUID]
) -> dict[UUID, Terms]:
    """The terms of each of `service_ids` (as `terms_of`), in one query."""
    rows = conn.execute(
        "SELECT service_id, price, currency, cancellation_hours, no_show_notice"
        " FROM notification_services WHERE service_id = ANY(%s)",
        (list(service_ids),),
    ).fetchall()
    found = {row[0]: Terms(*row[1:]) for row in rows}
    return {service_id: found.get(service_id, Terms()) for service_id in service_ids}


def reminder_rules(conn: psycopg.Connection[Any], service_id: UUID) -> tuple[ReminderRule, ...]:
    """The service's reminder schedule: its `reminders` setting, or API.md's defaults when
    it has none (null, or a service not seen yet)."""
    row = conn.execute(
        "SELECT reminders FROM notification_services WHERE service_id = %s", (service_id,)
    ).fetchone()
    if row is None or row[0] is None:
        return DEFAULT_REMINDERS
    return rules_of(Reminder.model_validate(r) for r in row[0])


#: The subject (kairos.privacy) of a booking row's client and specialist: their sealed
#: e-mail address names it (legacy plain values name none).
_CLIENT_SUBJECT = "(snapshot #>> '{client,contact,email,subject}')::uuid"
_SPECIALIST_SUBJECT = "(snapshot #>> '{specialist,contact,email,subject}')::uuid"


def forget_subjects(conn: psycopg.Connection[Any], subjects: list[UUID]) -> int:
    """Delete the push subscriptions of these erased people: a client's, on their
    bookings; a specialist's, their own. Returns how many went. (Their contact details
    in the snapshots are sealed under the keys the erasure deleted: unreadable.)"""
    cursor = conn.execute(
        "DELETE FROM push_subscriptions WHERE owner IN ("
        f" SELECT 'booking:' || booking_id FROM notification_bookings"
        f"  WHERE {_CLIENT_SUBJECT} = ANY(%(subjects)s)"
        f" UNION SELECT 'specialist:' || (snapshot #>> '{{specialist,specialist_id}}')"
        f"  FROM notification_bookings WHERE {_SPECIALIST_SUBJECT} = ANY(%(subjects)s))",
        {"subjects": subjects},
    )
    return cursor.rowcount


def push_owner(booking: BookingSnapshot, booking_id: UUID, recipient: str) -> str:
    """Whose subscriptions a recipient's pushes go to: the client's are the booking's
    (they have no account), the specialist's are theirs."""
    if recipient == "client":
        return f"booking:{booking_id}"
    return f"specialist:{booking.specialist.specialist_id}"


def add_push_subscription(
    conn: psycopg.Connection[Any], subscription_id: UUID, owner: str, subscription: PushSubscription
) -> None:
    conn.execute(
        "INSERT INTO push_subscriptions (id, owner, endpoint, p256dh, auth)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
        (subscription_id, owner, subscription.endpoint, subscription.p256dh, subscription.auth),
    )


def push_subscriptions(
    conn: psycopg.Connection[Any], owner: str
) -> list[tuple[UUID, PushSubscription]]:
    rows = conn.execute(
        "SELECT id, endpoint, p256dh, auth FROM push_subscriptions WHERE owner = %s ORDER BY id",
        (owner,),
    ).fetchall()
    return [(row[0], PushSubscription(row[1], row[2], row[3])) for row in rows]


def push_subscription_owner(conn: psycopg.Connection[Any], subscription_id: UUID) -> str | None:
    row = conn.execute(
        "SELECT owner FROM push_subscriptions WHERE id = %s", (subscription_id,)
    ).fetchone()
    return None if row is None else str(row[0])


def remove_push_subscription(conn: psycopg.Connection[Any], subscription_id: UUID) -> None:
    conn.execute("DELETE FROM push_subscriptions WHERE id = %s", (subscription_id,))


@dataclass(frozen=True)
class VideoRoom:
    opens_at: datetime | None
    closed: bool


def save_room_window(
    conn: psycopg.Connection[Any], booking_id: UUID, opens_at: datetime, at: datetime
) -> None:
    """The room opens at `opens_at` (prepared or moved at `at`), unless it is closed or
    stands at a later move already (a late copy of an earlier one)."""
    conn.execute(
        "INSERT INTO notification_video_rooms (booking_id, opens_at, updated_at)"
        " VALUES (%s, %s, %s) ON CONFLICT (booking_id) DO UPDATE"
        " SET opens_at = EXCLUDED.opens_at, updated_at = EXCLUDED.updated_at"
        " WHERE notification_video_rooms.closed_at IS NULL"
        " AND (notification_video_rooms.opens_at IS NULL"
        " OR notification_video_rooms.updated_at <= EXCLUDED.updated_at)",
        (booking_id, opens_at, at),
    )


def close_room(conn: psycopg.Connection[Any], booking_id: UUID, at: datetime) -> None:
    """No one joins the room again; the first closing is kept."""
    conn.execute(
        "INSERT INTO notification_video_rooms (booking_id, closed_at, updated_at)"
        " VALUES (%s, %s, %s) ON CONFLICT (booking_id) DO UPDATE SET closed_at ="
        " COALESCE(notification_video_rooms.closed_at, EXCLUDED.closed_at)",
        (booking_id, at, at),
    )


def video_rooms(
    conn: psycopg.Connection[Any], booking_ids: Collection[UUID]
) -> dict[UUID, VideoRoom]:
    """The rooms of `booking_ids` as video last told, in one query (a booking it told
    nothing of yet has none)."""
    rows = conn.execute(
        "SELECT booking_id, opens_at, closed_at FROM notification_video_rooms"
        " WHERE booking_id = ANY(%s)",
        (list(booking_ids),),
    ).fetchall()
    return {row[0]: VideoRoom(opens_at=row[1], closed=row[2] is not None) for row in rows}
