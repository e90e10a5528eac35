"""`python -m calendar_sync.consumer`: booking.events.v1 into the specialists' calendars,
with the effect dispatcher that performs the writes (kairos.messaging.runner)."""

from __future__ import annotations

from typing import Any

import psycopg

from calendar_sync.config import CalendarSyncSettings
from calendar_sync.consumers import CONSUMER, booking_handlers
from calendar_sync.tables import create_tables
from calendar_sync.wiring import CalendarSync, wire
from kairos.events import BOOKING_TOPIC
from kairos.messaging import ConsumerSpec, run_consumer
from kairos.privacy import ErasureLedger


def consumer_spec(service: CalendarSync) -> ConsumerSpec:
    ledger = ErasureLedger(service.settings.privacy_database_url)

    def setup(conn: psycopg.Connection[Any]) -> None:
        create_tables(conn)
        ledger.create_tables()
        ledger.register(CONSUMER)

    return ConsumerSpec(
        CONSUMER,
        BOOKING_TOPIC,
        booking_handlers(service.connections, ledger),
        effects=service.writes.handlers(),
        setup=setup,
        ops_port_env="CONSUMER_OPS_PORT",
    )


def main() -> None:
    settings = CalendarSyncSettings()
    service = wire(settings)
    try:
        run_consumer(consumer_spec(service), settings)
    finally:
        service.close()


if __name__ == "__main__":
    main()
