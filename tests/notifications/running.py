"""The notifications handlers consuming a topic of their own, on the real broker and
PostgreSQL (the `consumer` and `video_rooms` fixtures of tests/notifications/conftest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import uuid4

import psycopg

from kairos.effects import create_effects_table
from kairos.events import REGISTRY, Envelope, EventRegistry
from kairos.messaging import ConsumerProcess, ConsumerSpec, Handlers
from kairos.settings import ServiceSettings
from kairos_dev.infra import KafkaHandle
from notifications.consumers import handlers
from notifications.tables import create_tables
from tests.notifications.bookings import Booking
from tests.shared.test_messaging_consumer import PARTITIONS, produce


def setup(conn: psycopg.Connection[Any]) -> None:
    create_tables(conn)
    create_effects_table(conn)  # the runner makes it when the spec has effects


@dataclass(frozen=True)
class Row:
    kind: str
    status: str
    due_at: datetime
    data: dict[str, Any]


@dataclass
class Consumer:
    """The notifications handlers consuming a topic of their own."""

    database: str
    send: Callable[..., Awaitable[None]]

    def effects(self, booking: Booking, status: str | None = None) -> list[Row]:
        with psycopg.connect(self.database) as conn:
            rows = conn.execute(
                "SELECT kind, status, due_at, data FROM effects WHERE reason = %s"
                " ORDER BY due_at, kind, data::text",
                (f"booking:{booking.id}",),
            ).fetchall()
        found = [Row(*row) for row in rows]
        return [r for r in found if status is None or r.status == status]

    def notices(self, booking: Booking) -> set[tuple[str, str, int, str | None]]:
        return {
            (r.data["message"], r.data["recipient"], r.data["version"], r.data["invite"])
            for r in self.effects(booking)
            if r.kind == "notifications.notice"
        }

    def reminders(self, booking: Booking, status: str = "pending") -> list[Row]:
        return [r for r in self.effects(booking, status) if r.kind.startswith("notifications.rem")]


async def running_consumer(
    kafka: KafkaHandle,
    url: str,
    consuming: Handlers = handlers,
    name: str = "notifications",
    registry: EventRegistry = REGISTRY,
) -> AsyncIterator[Consumer]:
    """`consuming` (by default the booking events' handlers) as the consumer `name`,
    decoding by `registry` (the test's topic is neither's real one)."""
    topic = f"test.notify.{uuid4().hex[:10]}"
    settings = ServiceSettings(
        database_url=url,
        redis_url="redis://unused:6379/0",
        kafka_bootstrap_servers=kafka.bootstrap,
        kafka_partitions=PARTITIONS,
        kafka_topic_management="dev",
    )
    spec = ConsumerSpec(name, topic, consuming, setup=setup, group_id=f"g-{uuid4().hex[:8]}")
    process = ConsumerProcess(spec, settings, registry=registry)
    sent = 0

    async def send(*envelopes: Envelope) -> None:
        nonlocal sent
        await produce(kafka.bootstrap, topic, *envelopes)
        sent = max(sent, *(e.notification_id for e in envelopes))
        deadline = asyncio.get_running_loop().time() + 30
        while _applied(url, name) < sent:
            assert asyncio.get_running_loop().time() < deadline, "events not applied"
            await asyncio.sleep(0.05)

    running = asyncio.create_task(process.run())
    try:
        yield Consumer(url, send)
    finally:
        process.stop()
        await asyncio.wait_for(running, 30)


def _applied(url: str, name: str) -> int:
    """How far the consumer `name` got (0 until it made its positions table)."""
    with psycopg.connect(url) as conn:
        if conn.execute("SELECT to_regclass('consumer_positions')").fetchone() == (None,):
            return 0
        row = conn.execute(
            "SELECT max(notification_id) FROM consumer_positions WHERE consumer = %s", (name,)
        ).fetchone()
    return int(row[0]) if row and row[0] is not None else 0
