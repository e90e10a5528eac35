"""`python -m video.consumer`: consumes booking.events.v1 and performs the video effects
(ops endpoints on CONSUMER_OPS_PORT)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg

from kairos.events import BOOKING_TOPIC
from kairos.messaging import ConsumerSpec, run_consumer
from kairos.privacy import ErasureLedger
from video.adapters import LiveKitRooms
from video.application import Sessions
from video.config import LiveKitSettings, VideoConsumerSettings
from video.consumers import CONSUMER, booking_handlers, create_tables
from video.effects import effect_handlers
from video.store import sessions_application


def livekit_rooms(settings: LiveKitSettings) -> LiveKitRooms:
    return LiveKitRooms(
        settings.livekit_url,
        settings.livekit_api_key,
        settings.livekit_api_secret.get_secret_value(),
        settings.recordings_prefix,
        settings.livekit_public_url,
    )


def consumer_spec(settings: VideoConsumerSettings, app: Sessions) -> ConsumerSpec:
    ledger = ErasureLedger(settings.privacy_database_url)

    def setup(conn: psycopg.Connection[Any]) -> None:
        create_tables(conn)
        ledger.create_tables()
        ledger.register(CONSUMER)

    return ConsumerSpec(
        CONSUMER,
        BOOKING_TOPIC,
        booking_handlers(app, timedelta(minutes=settings.no_show_grace_minutes), ledger),
        effects=effect_handlers(app, livekit_rooms(settings)),
        setup=setup,
        ops_port_env="CONSUMER_OPS_PORT",
    )


def main() -> None:
    settings = VideoConsumerSettings()
    app = sessions_application(settings.database_url)
    try:
        run_consumer(consumer_spec(settings, app), settings)
    finally:
        app.close()


if __name__ == "__main__":
    main()
