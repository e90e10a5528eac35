"""`python -m calendar_sync.consumer`: booking.events.v1 into the specialists' calendars,
with the effect dispatcher that performs the writes (kairos.messaging.runner)."""

from __future__ import annotations

from calendar_sync.config import CalendarSyncSettings
from calendar_sync.consumers import booking_handlers
from calendar_sync.tables import create_tables
from calendar_sync.wiring import CalendarSync, wire
from kairos.events import BOOKING_TOPIC
from kairos.messaging import ConsumerSpec, run_consumer

CONSUMER = "calendar-sync"


def consumer_spec(service: CalendarSync) -> ConsumerSpec:
    return ConsumerSpec(
        CONSUMER,
        BOOKING_TOPIC,
        booking_handlers(service.connections),
        effects=service.writes.handlers(),
        setup=create_tables,
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
