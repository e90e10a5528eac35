"""External calendar busy time in the availability read model (from calendar.events.v1).

Busy rows with source "calendar", one per interval, unpadded and without a service
(ARCHITECTURE.md, slot rules), tagged with the connection they came from. An
ExternalBusyChanged holds the whole busy time of one connection in its range, so it
replaces the connection's rows that touch the range; a disconnection removes them all.
The query processes hear of it through the same NOTIFY as booking changes, with
position 0: calendar events do not move the booking log's read-your-writes positions.

`python -m availability.external_busy` runs it as a consumer of its own (group
"availability-calendar"), so the booking projector's readiness and staleness stay
measured against the booking log alone, and a deployment without calendar-sync loses
nothing. Ops endpoints on CALENDAR_PROJECTOR_OPS_PORT.
"""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, uuid5

import psycopg

from availability.config import AvailabilitySettings
from availability.tables import BUSY, Upsert, create_tables, notify_changed, write
from kairos.events import CALENDAR_TOPIC, Envelope
from kairos.events.calendar import CalendarDisconnected, ExternalBusyChanged
from kairos.messaging import ConsumerSpec, Handlers, run_consumer

CALENDAR_SOURCE = "calendar"
_ROW_NAMESPACE = uuid5(NAMESPACE_URL, "https://kairos.invalid/availability/calendar-busy")


handlers = Handlers()
CONSUMER = "availability-calendar"


@handlers.on
def on_external_busy_changed(
    conn: psycopg.Connection[Any], envelope: Envelope, event: ExternalBusyChanged
) -> None:
    conn.execute(
        f"DELETE FROM {BUSY.name} WHERE source = %s AND origin_id = %s"
        " AND busy_from < %s AND busy_until > %s",
        (CALENDAR_SOURCE, event.connection_id, event.range_end, event.range_start),
    )
    rows = [
        Upsert(
            BUSY,
            (
                CALENDAR_SOURCE,
                uuid5(_ROW_NAMESPACE, f"{event.connection_id}/{b.starts_at}/{b.ends_at}"),
            ),
            {
                "specialist_id": event.specialist_id,
                "service_id": None,
                "starts_at": None,
                "busy_from": b.starts_at,
                "busy_until": b.ends_at,
                "status": "busy",
                "active": True,
                "origin_id": event.connection_id,
            },
            envelope.notification_id,
        )
        for b in event.busy
    ]
    write(conn, rows)
    notify_changed(conn, event.specialist_id, 0)


@handlers.on
def on_calendar_disconnected(
    conn: psycopg.Connection[Any], envelope: Envelope, event: CalendarDisconnected
) -> None:
    conn.execute(
        f"DELETE FROM {BUSY.name} WHERE source = %s AND origin_id = %s",
        (CALENDAR_SOURCE, event.connection_id),
    )
    notify_changed(conn, event.specialist_id, 0)


def calendar_busy_spec() -> ConsumerSpec:
    return ConsumerSpec(
        CONSUMER,
        CALENDAR_TOPIC,
        handlers,
        setup=create_tables,
        ops_port_env="CALENDAR_PROJECTOR_OPS_PORT",
    )


def main() -> None:
    run_consumer(calendar_busy_spec(), AvailabilitySettings())


if __name__ == "__main__":
    main()
