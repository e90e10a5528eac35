"""Wires the booking service: settings → event store, Redis, auth → FastAPI app.

`uvicorn booking.main:app` builds the app from the environment on first access.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import redis
from fastapi import FastAPI
from psycopg_pool import ConnectionPool

from booking.api import ROUTERS
from booking.application import Bookings
from booking.config import BookingSettings, BookingStoreSettings
from booking.context import BookingContext
from booking.directory import Directory
from booking.erasure import Erasures
from booking.external_busy import ExternalBusy
from booking.history import HistoryIndex
from booking.idempotency import IdempotencyKeys
from booking.manage_tokens import ManageTokens
from booking.sign_in import RateLimit, SignInCodes, SignInMail, SignIns
from booking.team_directory import TeamDirectory
from kairos.auth import Authenticator, now_utc
from kairos.eventstore import open_application
from kairos.pools import autocommit_pool
from kairos.privacy import ErasureLedger, KeyStore, PersonalData
from kairos.privacy.settings import key_store
from kairos.providers.smtp import SmtpMailer
from kairos.web import configure_logging, lazy_app, postgres_check, service_app


def bookings_application(settings: BookingStoreSettings, **rules: Any) -> Bookings:
    """The event store's application; `rules` are Bookings' keyword arguments."""
    return open_application(
        lambda env: Bookings(env=env, **rules),
        settings.database_url,
        AGGREGATE_CACHE_MAXSIZE=str(settings.aggregate_cache_size),
        POSTGRES_POOL_SIZE=str(settings.db_pool_size),
        POSTGRES_MAX_OVERFLOW=str(settings.db_max_overflow),
    )


def _sign_ins(
    settings: BookingSettings,
    bookings: Bookings,
    keys: KeyStore,
    auth: Authenticator,
    cache: redis.Redis,
    mailer: SmtpMailer | None,
) -> SignIns:
    window = timedelta(minutes=settings.sign_in_window_minutes)
    mail = None
    if mailer is not None and settings.mail_from and settings.public_url:
        mail = SignInMail(mailer, settings.mail_from, settings.public_url)
    return SignIns(
        bookings,
        keys,
        auth,
        SignInCodes(cache),
        per_address=RateLimit(cache, "address", settings.sign_in_per_address, window),
        per_ip=RateLimit(cache, "ip", settings.sign_in_per_ip, window),
        mail=mail,
    )


def create_app(
    settings: BookingSettings | None = None, clock: Callable[[], datetime] = now_utc
) -> FastAPI:
    settings = settings or BookingSettings()
    configure_logging(settings.log_level)
    privacy_pool, keys = key_store(settings, settings.db_pool_size)
    personal = PersonalData(keys)
    ledger = ErasureLedger(privacy_pool)
    pool = ConnectionPool(
        settings.database_url, min_size=1, max_size=settings.db_pool_size, open=False
    )
    # The slot check's read of external busy time is one statement: on an autocommit pool
    # of its own it is one round trip, not BEGIN, SELECT and COMMIT on `pool`.
    busy_reads = autocommit_pool(settings.database_url, settings.db_pool_size)
    external_busy = ExternalBusy(busy_reads)
    bookings = bookings_application(
        settings,
        no_show_grace=timedelta(minutes=settings.no_show_grace_minutes),
        contention_timeout=timedelta(seconds=settings.contention_timeout_seconds),
        personal=personal,
        external_busy=external_busy.overlapping,
    )
    cache = redis.Redis.from_url(settings.redis_url)
    index = HistoryIndex(bookings, pool, keys)
    directory = Directory(bookings, pool, personal)
    team_directory = TeamDirectory(bookings, pool, directory)
    erasures = Erasures(bookings, personal, ledger, directory)
    auth = settings.authenticator()
    tokens = ManageTokens(pool, auth)
    mailer = SmtpMailer.from_settings(settings, settings.smtp_timeout_seconds)
    sign_ins = _sign_ins(settings, bookings, keys, auth, cache, mailer)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        pool.open(wait=True)
        busy_reads.open(wait=True)
        privacy_pool.open(wait=True)
        keys.create_tables()
        external_busy.create_table()
        ledger.create_tables()
        index.create_tables()
        directory.create_tables()
        team_directory.create_tables()
        tokens.create_tables()
        erasures.resume(clock())
        yield
        pool.close()
        busy_reads.close()
        privacy_pool.close()
        cache.close()
        if mailer is not None:  # its loops are closed from a thread that runs none
            await asyncio.to_thread(mailer.close)
        bookings.close()

    def redis_ping() -> None:
        cache.ping()

    app = service_app(
        "booking",
        {
            "postgres": postgres_check(pool),
            "key-store": postgres_check(privacy_pool),
            "redis": redis_ping,
        },
        ROUTERS,
        lifespan,
    )
    app.state.booking = BookingContext(
        app=bookings,
        auth=auth,
        index=index,
        directory=directory,
        team_directory=team_directory,
        idempotency=IdempotencyKeys(cache, settings.idempotency_ttl_seconds),
        personal=personal,
        erasures=erasures,
        tokens=tokens,
        sign_ins=sign_ins,
        clock=clock,
    )
    return app


__getattr__ = lazy_app(create_app)
