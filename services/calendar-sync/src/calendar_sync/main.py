"""Wires the calendar-sync API: `uvicorn calendar_sync.main:app` builds it from the
environment on first access."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI

from calendar_sync.api import calendars
from calendar_sync.config import CalendarSyncSettings
from calendar_sync.context import CalendarContext
from calendar_sync.oauth_api import oauth
from calendar_sync.wiring import wire
from kairos.auth import now_utc
from kairos.web import configure_logging, lazy_app, service_app

#: The routes of its API (kairos_dev.api_reference builds its document from them).
ROUTERS = (calendars, oauth)


def create_app(
    settings: CalendarSyncSettings | None = None, clock: Callable[[], datetime] = now_utc
) -> FastAPI:
    settings = settings or CalendarSyncSettings()
    configure_logging(settings.log_level)
    service = wire(settings, clock)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()

    app = service_app("calendar-sync", {}, ROUTERS, lifespan)
    app.state.calendar_sync = CalendarContext(
        service=service,
        auth=settings.authenticator(),
        clock=clock,
    )
    return app


__getattr__ = lazy_app(create_app)
