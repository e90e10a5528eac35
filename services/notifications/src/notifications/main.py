"""Wires the notifications API: settings → its database, the key store, the booking
API, auth → FastAPI app. `uvicorn notifications.main:app` builds it from the
environment on first access. The consumer and dispatcher are `notifications.worker`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from psycopg_pool import ConnectionPool

from kairos.web import configure_logging, lazy_app, postgres_check, service_app
from notifications.access import NotificationsContext
from notifications.api import ROUTERS
from notifications.channels.push import VapidPushSender
from notifications.config import NotificationsSettings
from notifications.links import BookingLinks
from notifications.tables import create_tables
from notifications.worker import personal_data


def create_app(
    settings: NotificationsSettings | None = None, booking_http: httpx.Client | None = None
) -> FastAPI:
    """The app; `booking_http` reaches the booking API (by default BOOKING_API_URL)."""
    settings = settings or NotificationsSettings()
    configure_logging(settings.log_level)
    pool = ConnectionPool(settings.database_url, min_size=1, max_size=8, open=False)
    key_pool, personal = personal_data(settings)
    booking = settings.booking_client(booking_http)
    push = VapidPushSender.from_settings(settings)
    token = settings.twilio_auth_token

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        pool.open(wait=True)
        key_pool.open(wait=True)
        with pool.connection() as conn:
            create_tables(conn)
        yield
        pool.close()
        key_pool.close()

    app = service_app(
        "notifications",
        {"postgres": postgres_check(pool), "key-store": postgres_check(key_pool)},
        ROUTERS,
        lifespan,
    )
    app.state.notifications = NotificationsContext(
        pool=pool,
        auth=settings.authenticator(),
        booking=booking,
        links=BookingLinks(booking, settings.public_url),
        personal=personal,
        vapid_public_key=push.public_key if push is not None else None,
        twilio_auth_token=token.get_secret_value() if token is not None else None,
        twilio_status_callback_url=settings.twilio_status_callback_url,
    )
    return app


__getattr__ = lazy_app(create_app)
