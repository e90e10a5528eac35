"""Wires the webhooks API: `uvicorn webhooks.main:app` builds it from the environment on
first access."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI

from kairos.auth import now_utc
from kairos.effects import create_effects_table
from kairos.pools import autocommit_pool
from kairos.web import configure_logging, lazy_app, postgres_check, service_app
from webhooks.api import ROUTERS
from webhooks.config import WebhooksSettings
from webhooks.consumer import target_policy
from webhooks.context import WebhooksContext
from webhooks.signing_secrets import secret_store
from webhooks.tables import create_tables


def create_app(
    settings: WebhooksSettings | None = None, clock: Callable[[], datetime] = now_utc
) -> FastAPI:
    settings = settings or WebhooksSettings()
    configure_logging(settings.log_level)
    pool = autocommit_pool(settings.database_url, settings.db_pool_size)
    secrets = secret_store(settings.database_url, settings.webhook_secret_keys.get_secret_value())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        pool.open(wait=True)
        secrets.create_table()
        with pool.connection() as conn:
            create_tables(conn)
            # Resends record effects for the consumer's dispatcher; the log reads them.
            create_effects_table(conn)
        yield
        pool.close()

    app = service_app("webhooks", {"postgres": postgres_check(pool)}, ROUTERS, lifespan)
    app.state.webhooks = WebhooksContext(
        pool=pool,
        secrets=secrets,
        policy=target_policy(settings),
        auth=settings.authenticator(),
        clock=clock,
    )
    return app


__getattr__ = lazy_app(create_app)
