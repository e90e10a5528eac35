"""The booking write side's own copy of external calendar busy time (calendar.events.v1).

A start that overlaps a specialist's external busy time is refused (409
slot_unavailable) by the same slot rule that decides what is offered
(kairos.slots.check_start): the busy time joins the ledgers' claims, unpadded.
`python -m booking.external_busy` keeps the copy: an ExternalBusyChanged replaces the
connection's intervals that touch its range, a disconnection removes them all. The
copy is as current as the consumer (external calendars are eventually consistent
anyway); the ledgers still guard bookings against each other exactly.
Ops endpoints on CALENDAR_CONSUMER_OPS_PORT.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg_pool import ConnectionPool

from booking.config import BookingStoreSettings
from kairos.events import CALENDAR_TOPIC, Envelope
from kairos.events.calendar import CalendarDisconnected, ExternalBusyChanged
from kairos.messaging import ConsumerSpec, Handlers, run_consumer
from kairos.slots import Interval

TABLE = "booking_external_busy"
CONSUMER = "booking-calendar"
#: A specialist's busy intervals overlapping [start, end): parameters specialist id, end,
#: start. A booking request's read of its ledgers carries it too (booking.store_reads).
OVERLAPPING = (
    f"SELECT busy_from, busy_until FROM {TABLE}"
    " WHERE specialist_id = %s AND busy_from < %s AND busy_until > %s"
)

handlers = Handlers()


def create_table(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {TABLE} (connection_id uuid NOT NULL,"
        " specialist_id uuid NOT NULL, busy_from timestamptz NOT NULL,"
        " busy_until timestamptz NOT NULL)"
    )
    conn.execute(
        f"CREATE INDEX IF NOT EXISTS {TABLE}_specialist ON {TABLE} (specialist_id, busy_until)"
    )
    conn.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_connection ON {TABLE} (connection_id)")


@handlers.on
def on_external_busy_changed(
    conn: psycopg.Connection[Any], envelope: Envelope, event: ExternalBusyChanged
) -> None:
    conn.execute(
        f"DELETE FROM {TABLE} WHERE connection_id = %s AND busy_from < %s AND busy_until > %s",
        (event.connection_id, event.range_end, event.range_start),
    )
    with conn.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {TABLE} VALUES (%s, %s, %s, %s)",
            [
                (event.connection_id, event.specialist_id, b.starts_at, b.ends_at)
                for b in event.busy
            ],
        )


@handlers.on
def on_calendar_disconnected(
    conn: psycopg.Connection[Any], envelope: Envelope, event: CalendarDisconnected
) -> None:
    conn.execute(f"DELETE FROM {TABLE} WHERE connection_id = %s", (event.connection_id,))


class ExternalBusy:
    """Reads the copy for the write side's slot check, on a pool that may be autocommit."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def create_table(self) -> None:
        with self._pool.connection() as conn, conn.transaction():
            create_table(conn)

    def overlapping(self, specialist_id: UUID, start: datetime, end: datetime) -> list[Interval]:
        with self._pool.connection() as conn:
            rows = conn.execute(OVERLAPPING, (specialist_id, end, start)).fetchall()
        return [Interval(a, b) for a, b in rows]


def main() -> None:
    settings = BookingStoreSettings()
    spec = ConsumerSpec(
        CONSUMER,
        CALENDAR_TOPIC,
        handlers,
        setup=create_table,
        ops_port_env="CALENDAR_CONSUMER_OPS_PORT",
    )
    run_consumer(spec, settings)


if __name__ == "__main__":
    main()
