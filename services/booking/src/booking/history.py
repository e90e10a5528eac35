"""The consultation history: a query table of bookings, filtered by specialist, client,
time and status (a projection, see booking.projection).

Client names and addresses stay sealed here as in the events (kairos.privacy): a row
keeps the client's data subject, and a search by address looks the subject up in the
key store's blind index. An erased client's rows no longer match and read as erased."""

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
from booking.projection import Apply, Projection, as_json, topic
from kairos.privacy import KeyStore, subject_of

# Earlier versions of this table held names and addresses in clear (the first), lacked
# the answers and the change positions (v2), or a collective booking's other members
# (v3): they go, and this one fills itself from the log on its first read.
SCHEMA = """
DROP TABLE IF EXISTS booking_history;
DROP TABLE IF EXISTS booking_history_v2;
DROP TABLE IF EXISTS booking_history_v3;
CREATE TABLE IF NOT EXISTS booking_history_v4 (
    id uuid PRIMARY KEY, specialist_id uuid NOT NULL, co_specialist_ids uuid[] NOT NULL,
    service_id uuid NOT NULL,
    client_subject uuid, client_name jsonb NOT NULL, client_email jsonb NOT NULL,
    client_timezone text NOT NULL, answers jsonb NOT NULL, notes jsonb,
    starts_at timestamptz NOT NULL, ends_at timestamptz NOT NULL, status text NOT NULL,
    position bigint NOT NULL);
CREATE INDEX IF NOT EXISTS booking_history_v4_specialist
    ON booking_history_v4 (specialist_id, starts_at);
CREATE INDEX IF NOT EXISTS booking_history_v4_co_specialists
    ON booking_history_v4 USING gin (co_specialist_ids);
CREATE INDEX IF NOT EXISTS booking_history_v4_client
    ON booking_history_v4 (client_subject, starts_at);
"""
TABLE = "booking_history_v4"


@dataclass(frozen=True)
class BookingFilter:
    specialist_id: UUID | None = None
    client_email: str | None = None
    starts_from: datetime | None = None
    starts_before: datetime | None = None
    status: str | None = None
    changed_after: int | None = None
    limit: int = 500


class HistoryIndex(Projection):
    """Each row also keeps the notification id of its booking's latest change
    (`position`), so a list polled again shows what changed since."""

    def __init__(self, app: Application[UUID], pool: ConnectionPool, keys: KeyStore) -> None:
        self._keys = keys
        handlers: dict[str, Apply] = {
            topic(Booking, "SlotRequested"): self._requested,
            topic(Booking, "Rescheduled"): self._rescheduled,
            topic(Booking, "Reassigned"): self._reassigned,
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
        super().__init__(app, pool, "history_v4", 0, SCHEMA, handlers)

    def bookings(self, f: BookingFilter) -> Sequence[dict[str, Any]]:
        self.catch_up()
        conditions: list[tuple[str, Any]] = [
            # Theirs, or a collective booking they are one of the members of.
            (
                "(specialist_id = %s OR co_specialist_ids @> ARRAY[%s]::uuid[])",
                (f.specialist_id, f.specialist_id) if f.specialist_id else None,
            ),
            *self._client_condition(f.client_email),
            ("starts_at >= %s", f.starts_from),
            ("starts_at < %s", f.starts_before),
            ("status = %s", f.status),
            ("position > %s", f.changed_after),
        ]
        given = [(clause, value) for clause, value in conditions if value]
        clauses = ["TRUE", *(clause for clause, _ in given)]
        # A clause with several placeholders comes with a tuple of their values.
        params = [v for _, value in given for v in (value if isinstance(value, tuple) else [value])]
        sql = f"SELECT * FROM {TABLE} WHERE {' AND '.join(clauses)} ORDER BY starts_at, id LIMIT %s"
        with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(sql, [*params, f.limit])
            return cur.fetchall()

    def _client_condition(self, email: str | None) -> list[tuple[str, Any]]:
        """Rows of the client with this address: by their data subject, and by the address
        itself in rows of events stored before sealing. An unknown (or erased) address
        matches no sealed row."""
        if not email:
            return []
        subject = self._keys.subject_of(email)
        clause = "(client_subject = %s OR lower(client_email #>> '{}') = lower(%s))"
        return [(clause, (subject, email))]

    # --- event handlers -------------------------------------------------------

    @staticmethod
    def _requested(cur: psycopg.Cursor[Any], e: Any, position: int) -> None:
        cur.execute(
            f"INSERT INTO {TABLE} (id, specialist_id, co_specialist_ids, service_id,"
            " client_subject, client_name, client_email, client_timezone, answers, notes,"
            " starts_at, ends_at, status, position)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (id) DO NOTHING",
            (
                e.originator_id,
                e.specialist_id,
                # A collective booking's other members (absent before teams).
                [UUID(str(m)) for m in getattr(e, "co_claims", None) or {}],
                e.service_id,
                subject_of(e.client["email"]),
                as_json(e.client["name"]),
                as_json(e.client["email"]),
                e.client["timezone"],
                as_json(e.answers),
                as_json(e.notes) if e.notes is not None else None,
                e.starts_at,
                e.ends_at,
                "requested",
                position,
            ),
        )

    @staticmethod
    def _rescheduled(cur: psycopg.Cursor[Any], e: Any, position: int) -> None:
        cur.execute(
            f"UPDATE {TABLE} SET starts_at = %s, ends_at = %s, position = %s WHERE id = %s",
            (e.starts_at, e.ends_at, position, e.originator_id),
        )

    @staticmethod
    def _reassigned(cur: psycopg.Cursor[Any], e: Any, position: int) -> None:
        # A new position: a list polled with `changed_after` shows whose it now is.
        cur.execute(
            f"UPDATE {TABLE} SET specialist_id = %s, position = %s WHERE id = %s",
            (e.assignee, position, e.originator_id),
        )

    @staticmethod
    def _status(status: str) -> Apply:
        def apply(cur: psycopg.Cursor[Any], e: Any, position: int) -> None:
            cur.execute(
                f"UPDATE {TABLE} SET status = %s, position = %s WHERE id = %s",
                (status, position, e.originator_id),
            )

        return apply
