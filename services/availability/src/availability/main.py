"""Wires the availability query service: settings → read model, cache → FastAPI app.

`uvicorn availability.main:app` builds the app from the environment on first
access. The projector (`python -m availability.projector`) is a separate process
that writes the read model this app reads.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI
from psycopg_pool import ConnectionPool

from availability.api import ROUTERS, SlotsContext
from availability.cache import AvailabilityCache
from availability.config import AvailabilitySettings
from availability.freshness import ProjectionFreshness
from availability.projector import CONSUMER, PRODUCER
from availability.tables import create_tables
from kairos.auth import now_utc
from kairos.messaging.positions import create_positions_table
from kairos.web import configure_logging, lazy_app, postgres_check, service_app


def create_app(
    settings: AvailabilitySettings | None = None, clock: Callable[[], datetime] = now_utc
) -> FastAPI:
    settings = settings or AvailabilitySettings()
    configure_logging(settings.log_level)
    pool = ConnectionPool(
        settings.database_url, min_size=1, max_size=settings.db_pool_size, open=False
    )
    cache = AvailabilityCache(
        pool,
        settings.database_url,
        CONSUMER,
        PRODUCER,
        clock,
        max_entries=settings.cache_size,
        partitions=settings.kafka_partitions,
    )
    freshness = ProjectionFreshness(pool, CONSUMER)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(pool.open, True)
        with pool.connection() as conn:
            create_positions_table(conn)
            create_tables(conn)
        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(cache.listen()), loop.create_task(freshness.follow())]
        yield
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        pool.close()

    def listener() -> None:
        if not cache.listening:
            raise RuntimeError("not listening for read-model changes")

    def projection() -> None:
        # A read model behind the log would offer slots that are already taken.
        freshness.check(settings.max_staleness_seconds)

    app = service_app(
        "availability",
        {"postgres": postgres_check(pool), "changes": listener, "projection": projection},
        ROUTERS,
        lifespan,
    )
    app.state.slots = SlotsContext(cache, clock, settings.min_position_wait_seconds, freshness)
    return app


__getattr__ = lazy_app(create_app)
