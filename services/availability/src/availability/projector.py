"""`python -m availability.projector`: keeps the availability read model up to date.

Consumes booking.events.v1 through the shared runner (kairos.messaging.runner): each
event's row changes, its position and a NOTIFY to the query processes commit in one
transaction. Several projectors split the partitions through the consumer group.
Ops endpoints on PROJECTOR_OPS_PORT (default 8000): /readyz is not ready until this
instance has caught up with its partitions once, nor while what it has applied is
more than `max_staleness_seconds` behind the booking log (or unknown: no heartbeat
from the relay). Every second it records how current it is for the query processes.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import psycopg

from availability.config import AvailabilitySettings
from availability.projections import Origin, project
from availability.tables import create_tables, notify_changed, record_status, write
from kairos.events import BOOKING_TOPIC
from kairos.events.booking import Payload
from kairos.messaging import ConsumerSpec, EventConsumer, Handlers, build_consumer, run_consumer

CONSUMER = "availability"
PRODUCER = "booking"

handlers = Handlers()


@handlers.on
def apply(conn: psycopg.Connection[Any], envelope: Origin, payload: Payload) -> None:
    """Apply any booking event to the read model, inside the consumer's transaction."""
    changes = project(envelope, payload)
    if changes:
        write(conn, changes)
        notify_changed(conn, envelope.specialist_id, envelope.notification_id)


def record_progress(conn: psycopg.Connection[Any], consumer: EventConsumer) -> None:
    """How current the read model is, for the query processes' /readyz and staleness."""
    record_status(
        conn,
        consumer.name,
        consumer.caught_up,
        consumer.lag_events,
        consumer.lag_seconds,
        consumer.freshness.as_of,
    )


def projector_spec(settings: AvailabilitySettings) -> ConsumerSpec:
    return ConsumerSpec(
        CONSUMER,
        BOOKING_TOPIC,
        handlers,
        setup=create_tables,
        max_staleness_seconds=settings.max_staleness_seconds,
        report_status=record_progress,
        ops_port_env="PROJECTOR_OPS_PORT",
    )


def projector(
    settings: AvailabilitySettings,
    *,
    topic: str = BOOKING_TOPIC,
    group_id: str = CONSUMER,
    **options: Any,
) -> EventConsumer:
    """The projector's consumer alone (tests give their own topic and group); `options`
    go to EventConsumer."""
    spec = replace(projector_spec(settings), topics=topic, group_id=group_id)
    return build_consumer(spec, settings, **options)


def main() -> None:
    settings = AvailabilitySettings()
    run_consumer(projector_spec(settings), settings)


if __name__ == "__main__":
    main()
