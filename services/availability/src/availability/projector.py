"""`python -m availability.projector`: keeps the availability read model up to date.

Consumes booking.events.v1 with the shared consumer runtime: each event's row
changes, its position and a NOTIFY to the query processes commit in one
transaction. Several projectors split the partitions through the consumer group.
Ops endpoints on PROJECTOR_OPS_PORT (default 8000): /readyz is not ready until
this instance has caught up with its partitions once, nor while what it has applied
is older than `max_staleness_seconds` behind the booking log (or unknown: no
heartbeat from the relay). Every second it records how current it is for the query
processes (`report_status`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import Any

import psycopg

from availability.config import AvailabilitySettings
from availability.freshness import check_staleness
from availability.projections import Origin, project
from availability.tables import create_tables, notify_changed, record_status, write
from kairos.events import BOOKING_TOPIC
from kairos.events.booking import Payload
from kairos.messaging import EventConsumer, GroupTimeouts
from kairos.web import configure_logging, postgres_check
from kairos.web.ops_server import start_ops_server

CONSUMER = "availability"
PRODUCER = "booking"
STATUS_INTERVAL = 1.0

log = logging.getLogger("availability.projector")


def apply(conn: psycopg.Connection[Any], envelope: Origin, payload: Payload) -> None:
    """Apply one booking event to the read model, inside the consumer's transaction."""
    changes = project(envelope, payload)
    if changes:
        write(conn, changes)
        notify_changed(conn, envelope.specialist_id, envelope.notification_id)


def projector(
    settings: AvailabilitySettings,
    *,
    topic: str = BOOKING_TOPIC,
    group_id: str = CONSUMER,
    **options: Any,
) -> EventConsumer:
    """The projector's consumer (tests give their own topic and group); `options` go to
    EventConsumer."""
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        create_tables(conn)
    return EventConsumer(
        settings.kafka_bootstrap_servers,
        topic,
        group_id=group_id,
        handlers={Payload: apply},
        database=settings.database_url,
        name=CONSUMER,
        timeouts=GroupTimeouts.from_settings(settings),
        **options,
    )


async def _run(settings: AvailabilitySettings, ops_port: int) -> None:
    consumer = projector(settings)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, consumer.stop)

    def current() -> None:
        if not consumer.caught_up:
            raise RuntimeError("catching up with its partitions")
        check_staleness(consumer.lag_seconds, settings.max_staleness_seconds)

    status = asyncio.get_running_loop().create_task(report_status(settings, consumer))
    ops = start_ops_server(
        "availability-projector",
        ops_port,
        {"postgres": postgres_check(settings.database_url), "projection": current},
    )
    try:
        await consumer.run()
    finally:
        status.cancel()
        ops.cancel()


async def report_status(settings: AvailabilitySettings, consumer: EventConsumer) -> None:
    """Record the consumer's lag and how current it is, every second, for the query
    processes' /readyz and staleness (runs until cancelled)."""

    def report() -> None:
        with psycopg.connect(settings.database_url, autocommit=True, connect_timeout=2) as conn:
            record_status(
                conn,
                consumer.name,
                consumer.caught_up,
                consumer.lag_events,
                consumer.lag_seconds,
                consumer.freshness.as_of,
            )

    while True:
        try:
            await asyncio.to_thread(report)
        except psycopg.OperationalError as exc:
            log.warning("could not record the projection's status: %s", exc)
        await asyncio.sleep(STATUS_INTERVAL)


def main() -> None:
    settings = AvailabilitySettings()
    configure_logging(settings.log_level)
    asyncio.run(_run(settings, int(os.environ.get("PROJECTOR_OPS_PORT", "8000"))))


if __name__ == "__main__":
    main()
