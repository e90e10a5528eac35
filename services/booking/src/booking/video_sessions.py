"""`python -m booking.video_sessions`: the booking lifecycle follows the video session.

Consumes video.events.v1 (ops endpoints on VIDEO_CONSUMER_OPS_PORT): SessionStarted
→ `in_progress`, SessionEnded → `completed`, unless the booking is already past that
(completed, a no-show, cancelled). A session that ended without starting changes
nothing: its no-show suggestion is the specialist's to confirm (`/no-show`).

Each handler is one command on the event store (its own transaction), which a
redelivery finds done: the status check makes it a no-op.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import psycopg

from booking.application import Bookings
from booking.config import BookingStoreSettings
from booking.domain import DomainError
from booking.main import bookings_application
from kairos.events import VIDEO_TOPIC, Envelope
from kairos.events.video import SessionEnded, SessionStarted
from kairos.messaging import ConsumerSpec, Handlers, run_consumer

log = logging.getLogger("booking.video_sessions")

CONSUMER = "booking-video-sessions"


def video_handlers(app: Bookings) -> Handlers:
    handlers = Handlers()

    @handlers.on
    def on_session_started(
        conn: psycopg.Connection[Any], envelope: Envelope, event: SessionStarted
    ) -> None:
        booking = app.booking(event.booking_id)
        if booking.status != "confirmed":
            return  # already in progress (a redelivery), or past it
        # The session opened when the service's waiting room did, not the default one.
        waiting_room = timedelta(minutes=app.service(booking.service_id).terms.waiting_room_minutes)
        try:
            app.start(event.booking_id, event.started_at, waiting_room)
        except DomainError as refused:
            log.warning("SessionStarted for booking %s not applied: %s", event.booking_id, refused)

    @handlers.on
    def on_session_ended(
        conn: psycopg.Connection[Any], envelope: Envelope, event: SessionEnded
    ) -> None:
        if event.started_at is None:
            return  # nobody had a consultation: the no-show is the specialist's call
        booking = app.booking(event.booking_id)
        if booking.status not in ("confirmed", "in_progress"):
            return  # completed (the specialist, or a redelivery) or a no-show already
        try:
            app.complete(event.booking_id, event.ended_at)
        except DomainError as refused:
            log.warning("SessionEnded for booking %s not applied: %s", event.booking_id, refused)

    return handlers


def video_sessions_spec(app: Bookings) -> ConsumerSpec:
    return ConsumerSpec(
        CONSUMER, VIDEO_TOPIC, video_handlers(app), ops_port_env="VIDEO_CONSUMER_OPS_PORT"
    )


def main() -> None:
    settings = BookingStoreSettings()
    app = bookings_application(settings)
    try:
        run_consumer(video_sessions_spec(app), settings)
    finally:
        app.close()


if __name__ == "__main__":
    main()
