"""calendar-sync's own tables beside its event store: what the consumer keeps of the
booking events (the bookings it writes into calendars, and each specialist's zone), and
how far each connection's inbound sync got."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from kairos.ddl import create_if_missing
from kairos.events.sealed import Sealed

_DDL = (
    # Names and addresses only sealed (docs/privacy.md): revealed when an effect fires.
    "CREATE TABLE IF NOT EXISTS calendar_sync_bookings (booking_id uuid PRIMARY KEY,"
    " specialist_id uuid NOT NULL, status text NOT NULL, service_name text NOT NULL,"
    " starts_at timestamptz NOT NULL, ends_at timestamptz NOT NULL, time_zone text NOT NULL,"
    " client_name jsonb, client_email jsonb)",
    "CREATE INDEX IF NOT EXISTS calendar_sync_bookings_specialist"
    " ON calendar_sync_bookings (specialist_id, ends_at)",
    # Every specialist whose calendars hold it: a collective booking's members (its
    # specialist_id is the first); empty in rows from before teams (the specialist alone).
    "ALTER TABLE calendar_sync_bookings"
    " ADD COLUMN IF NOT EXISTS specialist_ids uuid[] NOT NULL DEFAULT '{}'",
    "CREATE INDEX IF NOT EXISTS calendar_sync_bookings_members"
    " ON calendar_sync_bookings USING gin (specialist_ids)",
    "CREATE TABLE IF NOT EXISTS calendar_sync_specialists (specialist_id uuid PRIMARY KEY,"
    " time_zone text NOT NULL)",
    "CREATE TABLE IF NOT EXISTS calendar_sync_status (connection_id uuid PRIMARY KEY,"
    " last_sync_at timestamptz, sync_token text, watch_id text, watch_expires_at timestamptz)",
)


#: calendar-sync's API and consumer both create the tables at start (kairos.ddl).
_DDL_LOCK = 0x6B6169726F730041


def create_tables(conn: psycopg.Connection[Any]) -> None:
    create_if_missing(conn, _DDL_LOCK, ";\n".join(_DDL))


@dataclass(frozen=True)
class BookedEvent:
    """A booking as calendar-sync writes it into calendars."""

    booking_id: UUID
    specialist_id: UUID
    status: str
    service_name: str
    starts_at: datetime
    ends_at: datetime
    time_zone: str
    client_name: Sealed | str | None
    client_email: Sealed | str | None
    specialist_ids: tuple[UUID, ...] = ()

    @property
    def members(self) -> tuple[UUID, ...]:
        """Whose calendars show it: every member of a collective booking, else its one
        specialist (after a reassignment, the new one)."""
        return self.specialist_ids or (self.specialist_id,)


def _personal(value: Any) -> Sealed | str | None:
    if value is None or isinstance(value, str):
        return value
    return Sealed.model_validate(value)


_BOOKED = (
    "booking_id, specialist_id, status, service_name, starts_at, ends_at, time_zone,"
    " client_name, client_email, specialist_ids"
)
# A specialist's bookings: those they hold alone (or held before teams) and those of
# which they are one of the members.
_OF_SPECIALIST = "(specialist_id = %(specialist)s OR specialist_ids @> ARRAY[%(specialist)s])"


def _booked(row: Any) -> BookedEvent:
    b_id, specialist, status, service, starts, ends, tz, name, email, members = row
    return BookedEvent(
        b_id,
        specialist,
        status,
        service,
        starts,
        ends,
        tz,
        _personal(name),
        _personal(email),
        tuple(members),
    )


def _json(value: Sealed | str | None) -> Jsonb | None:
    if value is None:
        return None
    return Jsonb(value if isinstance(value, str) else value.model_dump(mode="json"))


def save_booking(conn: psycopg.Connection[Any], b: BookedEvent) -> None:
    """Keep the booking as it now stands: its status, its time and (reassigned) whose it is."""
    conn.execute(
        f"INSERT INTO calendar_sync_bookings ({_BOOKED})"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (booking_id) DO UPDATE SET status = EXCLUDED.status,"
        " starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at,"
        " specialist_id = EXCLUDED.specialist_id, specialist_ids = EXCLUDED.specialist_ids,"
        " time_zone = EXCLUDED.time_zone",
        (
            b.booking_id,
            b.specialist_id,
            b.status,
            b.service_name,
            b.starts_at,
            b.ends_at,
            b.time_zone,
            _json(b.client_name),
            _json(b.client_email),
            list(b.specialist_ids),
        ),
    )


def booking(conn: psycopg.Connection[Any], booking_id: UUID) -> BookedEvent | None:
    row = conn.execute(
        f"SELECT {_BOOKED} FROM calendar_sync_bookings WHERE booking_id = %s", (booking_id,)
    ).fetchone()
    if row is None:
        return None
    return _booked(row)


def live_bookings(
    conn: psycopg.Connection[Any], specialist_id: UUID, after: datetime
) -> list[BookedEvent]:
    """The specialist's confirmed bookings ending after `after`, theirs alone or as a member."""
    rows = conn.execute(
        f"SELECT {_BOOKED} FROM calendar_sync_bookings WHERE {_OF_SPECIALIST}"
        " AND ends_at > %(after)s AND status = 'confirmed' ORDER BY starts_at",
        {"specialist": specialist_id, "after": after},
    ).fetchall()
    return [_booked(r) for r in rows]


def set_zone(conn: psycopg.Connection[Any], specialist_id: UUID, time_zone: str) -> None:
    conn.execute(
        "INSERT INTO calendar_sync_specialists VALUES (%s, %s) ON CONFLICT (specialist_id)"
        " DO UPDATE SET time_zone = EXCLUDED.time_zone",
        (specialist_id, time_zone),
    )


def zone_of(conn: psycopg.Connection[Any], specialist_id: UUID) -> str:
    """The specialist's IANA zone; UTC until their registration has been consumed."""
    row = conn.execute(
        "SELECT time_zone FROM calendar_sync_specialists WHERE specialist_id = %s",
        (specialist_id,),
    ).fetchone()
    return "UTC" if row is None else str(row[0])


def sync_token(conn: psycopg.Connection[Any], connection_id: UUID) -> str | None:
    row = conn.execute(
        "SELECT sync_token FROM calendar_sync_status WHERE connection_id = %s", (connection_id,)
    ).fetchone()
    return None if row is None else row[0]


def record_sync(
    conn: psycopg.Connection[Any], connection_id: UUID, at: datetime, token: str | None
) -> None:
    conn.execute(
        "INSERT INTO calendar_sync_status (connection_id, last_sync_at, sync_token)"
        " VALUES (%s, %s, %s) ON CONFLICT (connection_id) DO UPDATE"
        " SET last_sync_at = EXCLUDED.last_sync_at, sync_token = EXCLUDED.sync_token",
        (connection_id, at, token),
    )


def last_sync(conn: psycopg.Connection[Any], connection_id: UUID) -> datetime | None:
    row = conn.execute(
        "SELECT last_sync_at FROM calendar_sync_status WHERE connection_id = %s", (connection_id,)
    ).fetchone()
    return None if row is None else row[0]


def record_watch(
    conn: psycopg.Connection[Any], connection_id: UUID, watch_id: str, expires_at: datetime
) -> None:
    conn.execute(
        "INSERT INTO calendar_sync_status (connection_id, watch_id, watch_expires_at)"
        " VALUES (%s, %s, %s) ON CONFLICT (connection_id) DO UPDATE"
        " SET watch_id = EXCLUDED.watch_id, watch_expires_at = EXCLUDED.watch_expires_at",
        (connection_id, watch_id, expires_at),
    )


def watched_by(conn: psycopg.Connection[Any], watch_id: str) -> UUID | None:
    """The connection whose channel or subscription this is."""
    row = conn.execute(
        "SELECT connection_id FROM calendar_sync_status WHERE watch_id = %s", (watch_id,)
    ).fetchone()
    return None if row is None else UUID(str(row[0]))


def watch_of(conn: psycopg.Connection[Any], connection_id: UUID) -> tuple[str, datetime] | None:
    row = conn.execute(
        "SELECT watch_id, watch_expires_at FROM calendar_sync_status"
        " WHERE connection_id = %s AND watch_id IS NOT NULL",
        (connection_id,),
    ).fetchone()
    return None if row is None else (str(row[0]), row[1])


def bookings_of_subjects(conn: psycopg.Connection[Any], subjects: list[UUID]) -> list[BookedEvent]:
    """The shown bookings whose client is one of `subjects`."""
    rows = conn.execute(
        f"SELECT {_BOOKED} FROM calendar_sync_bookings"
        " WHERE client_email->>'subject' = ANY(%s) AND status IN"
        " ('confirmed', 'in_progress', 'completed', 'no_show')",
        ([str(s) for s in subjects],),
    ).fetchall()
    return [_booked(row) for row in rows]
