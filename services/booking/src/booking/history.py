"""The consultation history: a query table of bookings, filtered by specialist, client,
time and status (a projection, see booking.projection)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.application import Application
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from booking.domain import Booking
from booking.projection import Apply, Projection, topic

SCHEMA = """
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


class HistoryIndex(Projection):
    def __init__(self, app: Application[UUID], pool: ConnectionPool) -> None:
        handlers: dict[str, Apply] = {
            topic(Booking, "SlotRequested"): self._requested,
            topic(Booking, "Rescheduled"): self._rescheduled,
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
            handlers[topic(Booking, name)] = self._status(status)
        super().__init__(app, pool, "history", 0, SCHEMA, handlers)

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
