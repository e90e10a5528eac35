"""Query tables for lists the event store can't answer by id: specialists and bookings.

The tables follow the booking event store's notification log. They are caught up
on read, under an advisory lock, in the transaction that records how far they
got, so a list always includes every write that committed before it was asked
for, and several processes never apply the same event twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.application import Application
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from booking.domain import Booking, Specialist, event_class

PAGE = 1000
_LOCK_KEY = 0x6B616972  # any constant shared by every booking process

SCHEMA = """
CREATE TABLE IF NOT EXISTS booking_index_position (
    name text PRIMARY KEY, position bigint NOT NULL);
CREATE TABLE IF NOT EXISTS specialist_directory (
    id uuid PRIMARY KEY, name text NOT NULL, timezone text NOT NULL,
    specialty text, bio text, position bigint NOT NULL);
CREATE TABLE IF NOT EXISTS booking_history (
    id uuid PRIMARY KEY, specialist_id uuid NOT NULL, service_id uuid NOT NULL,
    client_name text NOT NULL, client_email text NOT NULL,
    starts_at timestamptz NOT NULL, ends_at timestamptz NOT NULL, status text NOT NULL);
CREATE INDEX IF NOT EXISTS booking_history_specialist
    ON booking_history (specialist_id, starts_at);
CREATE INDEX IF NOT EXISTS booking_history_client
    ON booking_history (lower(client_email), starts_at);
"""


@dataclass(frozen=True)
class BookingFilter:
    specialist_id: UUID | None = None
    client_email: str | None = None
    starts_from: datetime | None = None
    starts_before: datetime | None = None
    status: str | None = None
    limit: int = 500


def _topic(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


Apply = Callable[[psycopg.Cursor[Any], Any, int], None]


class HistoryIndex:
    def __init__(self, app: Application[UUID], pool: ConnectionPool) -> None:
        self._app = app
        self._pool = pool
        self._handlers: dict[str, Apply] = {
            _topic(event_class(Specialist, "Registered")): self._registered,
            _topic(event_class(Specialist, "ScheduleSet")): self._zone_changed,
            _topic(event_class(Booking, "SlotRequested")): self._requested,
            _topic(event_class(Booking, "Rescheduled")): self._rescheduled,
        }
        for name, status in (
            ("Confirmed", "confirmed"),
            ("Pending", "pending"),
            ("Declined", "declined"),
            ("Cancelled", "cancelled"),
            ("Started", "in_progress"),
            ("Completed", "completed"),
            ("NoShowMarked", "no_show"),
        ):
            self._handlers[_topic(event_class(Booking, name))] = self._status(status)

    def create_tables(self) -> None:
        # Serialised: workers starting together would race on CREATE ... IF NOT EXISTS.
        with self._pool.connection() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            conn.execute(SCHEMA)

    def catch_up(self) -> int:
        """Apply every event recorded since the last catch-up; returns how many."""
        applied = 0
        topics = list(self._handlers)
        with self._pool.connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            cur.execute("SELECT position FROM booking_index_position WHERE name = 'history'")
            row = cur.fetchone()
            position = row[0] if row else 0
            while True:
                page = self._app.recorder.select_notifications(
                    position, PAGE, topics=topics, inclusive_of_start=False
                )
                for notification in page:
                    event = self._app.mapper.to_domain_event(notification)
                    self._handlers[notification.topic](cur, event, notification.id)
                if page:
                    position = page[-1].id
                    applied += len(page)
                if len(page) < PAGE:
                    break
            cur.execute(
                "INSERT INTO booking_index_position (name, position) VALUES ('history', %s) "
                "ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position",
                (position,),
            )
        return applied

    def specialists(self) -> list[UUID]:
        self.catch_up()
        with self._pool.connection() as conn:
            rows = conn.execute("SELECT id FROM specialist_directory ORDER BY name, id").fetchall()
        return [r[0] for r in rows]

    def bookings(self, f: BookingFilter) -> Sequence[dict[str, Any]]:
        self.catch_up()
        conditions = [
            ("specialist_id = %s", f.specialist_id),
            ("lower(client_email) = lower(%s)", f.client_email),
            ("starts_at >= %s", f.starts_from),
            ("starts_at < %s", f.starts_before),
            ("status = %s", f.status),
        ]
        given = [(clause, value) for clause, value in conditions if value]
        clauses = ["TRUE", *(clause for clause, _ in given)]
        params: list[Any] = [value for _, value in given]
        sql = (
            f"SELECT * FROM booking_history WHERE {' AND '.join(clauses)} "
            "ORDER BY starts_at, id LIMIT %s"
        )
        with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(sql, [*params, f.limit])
            return cur.fetchall()

    # --- event handlers -------------------------------------------------------

    @staticmethod
    def _registered(cur: psycopg.Cursor[Any], e: Any, position: int) -> None:
        cur.execute(
            "INSERT INTO specialist_directory (id, name, timezone, specialty, bio, position) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (e.originator_id, e.name, e.timezone, e.specialty, e.bio, position),
        )

    @staticmethod
    def _zone_changed(cur: psycopg.Cursor[Any], e: Any, position: int) -> None:
        cur.execute(
            "UPDATE specialist_directory SET timezone = %s WHERE id = %s",
            (e.timezone, e.originator_id),
        )

    @staticmethod
    def _requested(cur: psycopg.Cursor[Any], e: Any, position: int) -> None:
        cur.execute(
            "INSERT INTO booking_history (id, specialist_id, service_id, client_name, "
            "client_email, starts_at, ends_at, status) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (id) DO NOTHING",
            (
                e.originator_id,
                e.specialist_id,
                e.service_id,
                e.client["name"],
                e.client["email"],
                e.starts_at,
                e.ends_at,
                "requested",
            ),
        )

    @staticmethod
    def _rescheduled(cur: psycopg.Cursor[Any], e: Any, position: int) -> None:
        cur.execute(
            "UPDATE booking_history SET starts_at = %s, ends_at = %s WHERE id = %s",
            (e.starts_at, e.ends_at, e.originator_id),
        )

    @staticmethod
    def _status(status: str) -> Apply:
        def apply(cur: psycopg.Cursor[Any], e: Any, position: int) -> None:
            cur.execute(
                "UPDATE booking_history SET status = %s WHERE id = %s", (status, e.originator_id)
            )

        return apply
