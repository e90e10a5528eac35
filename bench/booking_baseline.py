"""The yardstick for booking's hot path: the same booking as a plain CRUD endpoint.

FastAPI + pydantic + psycopg and nothing of ours: look up the service, then one
transaction that locks the specialist's overlapping bookings (SELECT … FOR UPDATE)
and inserts the new one. bench.booking serves it with the same uvicorn settings and
loads it with the same requests as POST /v1/bookings, so the two rates make a ratio
that the machine's speed and the other helpers' load largely cancel out of.

`uvicorn bench.booking_baseline:app` reads DATABASE_URL; `seed` fills its tables. It
keeps CPython's default garbage collector settings, not the Kairos servers' own
(kairos.web.collector).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import psycopg
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool
from pydantic import AwareDatetime, BaseModel, EmailStr

from kairos.web import lazy_app

SCHEMA = """
CREATE TABLE IF NOT EXISTS crud_services (
    id uuid PRIMARY KEY, specialist_id uuid NOT NULL, duration_minutes int NOT NULL);
CREATE TABLE IF NOT EXISTS crud_bookings (
    id uuid PRIMARY KEY, service_id uuid NOT NULL, specialist_id uuid NOT NULL,
    starts_at timestamptz NOT NULL, ends_at timestamptz NOT NULL, client jsonb NOT NULL);
CREATE INDEX IF NOT EXISTS crud_bookings_specialist ON crud_bookings (specialist_id, starts_at);
"""


class Client(BaseModel):
    name: str
    email: EmailStr
    timezone: str


class BookingIn(BaseModel):
    service_id: UUID
    starts_at: AwareDatetime
    client: Client


class BookingOut(BookingIn):
    id: UUID
    specialist_id: UUID
    ends_at: datetime
    status: str


def seed(database_url: str, services: Iterable[tuple[UUID, UUID, int]]) -> None:
    """(service id, specialist id, duration in minutes) rows: the benchmark's catalog."""
    with psycopg.connect(database_url) as conn:
        conn.execute(SCHEMA)
        with conn.cursor() as cursor:
            cursor.executemany("INSERT INTO crud_services VALUES (%s, %s, %s)", list(services))


def create_app() -> FastAPI:
    pool = ConnectionPool(os.environ["DATABASE_URL"], min_size=1, max_size=10, open=False)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        pool.open(wait=True)
        yield
        pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/healthz")
    @app.get("/readyz")
    def ready() -> dict[str, str]:
        return {"status": "ok"}

    # Plain `def`, as booking's routes are: both run in FastAPI's thread pool.
    @app.post("/v1/bookings", status_code=201)
    def book(body: BookingIn) -> Any:
        with pool.connection() as conn:
            service = conn.execute(
                "SELECT specialist_id, duration_minutes FROM crud_services WHERE id = %s",
                (body.service_id,),
            ).fetchone()
            if service is None:
                return _error(404, "not_found", "no service has that service_id")
            specialist_id, minutes = service
            ends_at = body.starts_at + timedelta(minutes=minutes)
            with conn.transaction():
                taken = conn.execute(
                    "SELECT id FROM crud_bookings WHERE specialist_id = %s"
                    " AND starts_at < %s AND ends_at > %s FOR UPDATE",
                    (specialist_id, ends_at, body.starts_at),
                ).fetchall()
                if taken:
                    return _error(409, "slot_unavailable", "that slot is no longer free")
                booking = BookingOut(
                    **body.model_dump(),
                    id=uuid4(),
                    specialist_id=specialist_id,
                    ends_at=ends_at,
                    status="confirmed",
                )
                conn.execute(
                    "INSERT INTO crud_bookings VALUES (%s, %s, %s, %s, %s, %s)",
                    (
                        booking.id,
                        booking.service_id,
                        specialist_id,
                        booking.starts_at,
                        ends_at,
                        Jsonb(body.client.model_dump()),
                    ),
                )
        return booking

    return app


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "details": {}}}, status)


__getattr__ = lazy_app(create_app, server_collector=False)
