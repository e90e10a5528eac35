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

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import psycopg

from availability.config import AvailabilitySettings
from availability.projections import Origin, others_touched, project
from availability.tables import create_tables, notify_changed, record_status, write
from kairos.events import BOOKING_TOPIC, Envelope
from kairos.events.booking import Payload, PersonErased
from kairos.messaging import ConsumerSpec, EventConsumer, Handlers, build_consumer, run_consumer
from kairos.privacy import ErasureLedger

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
        # Position 0: their caches go, but their partitions' positions don't move on.
        for other in others_touched(envelope, payload):
            notify_changed(conn, other, 0)


def erasure_handlers(ledger: ErasureLedger) -> Handlers:
    """`handlers`, plus taking part in erasures through `ledger`."""
    with_erasures = Handlers()
    for event, handler in handlers.items():
        with_erasures.register(event, handler)

    @with_erasures.on
    def on_person_erased(
        conn: psycopg.Connection[Any], envelope: Envelope, event: PersonErased
    ) -> None:
        """The read model keeps personal fields only sealed (a specialist's name), which
        the deleted keys made unreadable: nothing is left to forget, so report done. A
        redelivered event reports again, which changes nothing."""
        ledger.report(event.erasure_id, CONSUMER)

    return with_erasures


def _setup(ledger: ErasureLedger | None) -> Callable[[psycopg.Connection[Any]], None]:
    def setup(conn: psycopg.Connection[Any]) -> None:
        create_tables(conn)
        if ledger is not None:
            ledger.create_tables()
            ledger.register(CONSUMER)

    return setup


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
    url = settings.privacy_database_url
    ledger = ErasureLedger(url) if url else None
    return ConsumerSpec(
        CONSUMER,
        BOOKING_TOPIC,
        erasure_handlers(ledger) if ledger else handlers,
        setup=_setup(ledger),
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
