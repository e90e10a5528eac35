"""Wires the video service: settings → event store, key store, LiveKit → FastAPI app.

`uvicorn video.main:app` builds the app from the environment on first access.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from fastapi import FastAPI
from psycopg_pool import ConnectionPool

from kairos.auth import now_utc
from kairos.effects import create_effects_table
from kairos.privacy import PersonalData
from kairos.privacy.settings import key_store
from kairos.web import configure_logging, lazy_app, postgres_check, service_app
from video.api import ROUTERS
from video.config import VideoSettings
from video.consumer import livekit_rooms
from video.context import VideoContext
from video.recordings import RecordingLinks
from video.store import sessions_application
from video.webhooks import LiveKitWebhooks, create_tables


def create_app(
    settings: VideoSettings | None = None, clock: Callable[[], datetime] = now_utc
) -> FastAPI:
    settings = settings or VideoSettings()
    configure_logging(settings.log_level)
    pool = ConnectionPool(
        settings.database_url, min_size=1, max_size=settings.db_pool_size, open=False
    )
    privacy_pool, keys = key_store(settings, settings.db_pool_size)
    sessions = sessions_application(settings.database_url)
    booking = settings.booking_client()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        pool.open(wait=True)
        privacy_pool.open(wait=True)
        keys.create_tables()
        with pool.connection() as conn:
            create_tables(conn)
            # Webhooks record effects (a recording to start) for the consumer's dispatcher.
            create_effects_table(conn)
        yield
        pool.close()
        privacy_pool.close()
        sessions.close()
        booking.close()

    app = service_app(
        "video",
        {"postgres": postgres_check(pool), "key-store": postgres_check(privacy_pool)},
        ROUTERS,
        lifespan,
    )
    app.state.video = VideoContext(
        app=sessions,
        auth=settings.authenticator(),
        booking=booking,
        rooms=livekit_rooms(settings),
        webhooks=LiveKitWebhooks(
            sessions,
            pool,
            settings.livekit_api_key,
            settings.livekit_api_secret.get_secret_value(),
        ),
        links=RecordingLinks(
            settings.recording_link_secret.get_secret_value(),
            timedelta(minutes=settings.recording_link_ttl_minutes),
        ),
        personal=PersonalData(keys),
        pool=pool,
        join_ttl=timedelta(minutes=settings.join_token_ttl_minutes),
        no_show_grace=timedelta(minutes=settings.no_show_grace_minutes),
        recordings_base_url=settings.recordings_base_url,
        clock=clock,
    )
    return app


__getattr__ = lazy_app(create_app)
