"""booking.events.v1 → deliveries: each booking lifecycle event becomes one delivery
per active subscription to its type, recorded in the consumer's transaction with the
effect that sends it (webhooks.tables.enqueue)."""

from __future__ import annotations

from typing import Any

import psycopg

from kairos.events import Envelope
from kairos.events.booking import BOOKING_EVENTS, BookingEvent
from kairos.messaging import Handlers
from webhooks.tables import enqueue

CONSUMER = "webhooks"

#: The event types a subscription may name: every booking lifecycle event of the contract.
EVENT_TYPES = tuple(kind.__name__ for kind in BOOKING_EVENTS if issubclass(kind, BookingEvent))

handlers = Handlers()


@handlers.on
def on_booking_event(
    conn: psycopg.Connection[Any], envelope: Envelope, event: BookingEvent
) -> None:
    (now,) = conn.execute("SELECT now()").fetchone() or (envelope.occurred_at,)
    enqueue(conn, envelope, now=now)
