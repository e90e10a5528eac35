"""Query tables the booking service keeps for lists the event store can't answer by id.

A projection follows the event store's notification log. It is caught up on read,
under an advisory lock, in the transaction that records how far it got, so a list
always includes every write that committed before it was asked for, and several
processes never apply the same event twice. Each projection has its own position,
so a new one fills itself from the first event on its first read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from booking.domain import event_class

PAGE = 1000
_LOCK_BASE = 0x6B616972  # plus the projection's number: one lock per projection

POSITIONS = """
CREATE TABLE IF NOT EXISTS booking_index_position (
    name text PRIMARY KEY, position bigint NOT NULL);
"""

Apply = Callable[[psycopg.Cursor[Any], Any, int], None]


def topic(aggregate: type[Aggregate], event_name: str) -> str:
    """The stored-event topic of `aggregate`'s event `event_name` (e.g. Booking, "Confirmed")."""
    cls = event_class(aggregate, event_name)
    return f"{cls.__module__}:{cls.__qualname__}"


def as_json(value: Any) -> Jsonb:
    """A jsonb parameter; decimals (prices) become strings, which the API reads back."""
    return Jsonb(value, dumps=lambda v: json.dumps(v, default=str))


class Projection:
    """Tables kept from the events whose topics `handlers` names."""

    def __init__(
        self,
        app: Application[UUID],
        pool: ConnectionPool,
        name: str,
        number: int,
        schema: str,
        handlers: dict[str, Apply],
    ) -> None:
        self._app = app
        self._pool = pool
        self._name = name
        self._lock = _LOCK_BASE + number
        self._schema = schema
        self._handlers = handlers

    def create_tables(self) -> None:
        # Serialised: workers starting together would race on CREATE ... IF NOT EXISTS.
        with self._pool.connection() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_BASE,))
            conn.execute(POSITIONS)
            conn.execute(self._schema)

    @contextmanager
    def _locked(self) -> Iterator[psycopg.Cursor[Any]]:
        """A transaction holding this projection's lock: no catch-up runs meanwhile."""
        with self._pool.connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock,))
            yield cur

    def catch_up(self) -> int:
        """Apply every event recorded since the last catch-up; returns how many."""
        applied = 0
        topics = list(self._handlers)
        with self._locked() as cur:
            cur.execute(
                "SELECT position FROM booking_index_position WHERE name = %s", (self._name,)
            )
            row = cur.fetchone()
            position = row[0] if row else 0
            while True:
                page = self._app.recorder.select_notifications(
                    position, PAGE, topics=topics, inclusive_of_start=False
                )
                for notification in page:
                    event = self._app.mapper.to_domain_event(notification)
                    self._handlers[notification.topic](cur, event, notification.id)
                if page:
                    position = page[-1].id
                    applied += len(page)
                if len(page) < PAGE:
                    break
            cur.execute(
                "INSERT INTO booking_index_position (name, position) VALUES (%s, %s) "
                "ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position",
                (self._name, position),
            )
        return applied
