"""The availability projector against poison events and a database outage (ARCHITECTURE.md
rule 8), with events injected straight into a topic of a real broker and a real PostgreSQL.

- an event the projector must not apply (a NUL byte in a specialist's name, which
  PostgreSQL can't store and the payload model refuses), an undecodable message and
  an event of an unknown version are parked on the dead-letter topic with their reason,
  and the events after them still project;
- while the projector's database is unreachable, an event waits: it is retried until the
  database is back and then applied, never parked.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from uuid import UUID, uuid4

import psycopg
import pytest
from aiokafka import TopicPartition
from prometheus_client import REGISTRY as METRICS
from psycopg import sql

from availability.projector import CONSUMER, projector
from availability.tables import SPECIALISTS
from kairos.events import Envelope, dead_letter_topic
from kairos.events.booking import SpecialistRegistered
from kairos.messaging import EventConsumer, ensure_topics, make_consumer, make_producer
from kairos.messaging.kafka import close_quietly
from kairos_dev.infra import KafkaHandle, PostgresHandle
from kairos_dev.infra.postgres import database_name
from tests.availability.conftest import availability_settings
from tests.shared.test_messaging_consumer import read_all

pytestmark = pytest.mark.integration

SPECIALIST = UUID("0d5a3f4e-8c1b-4f7a-9b2e-5c6d7e8f9a01")


def registered(notification_id: int, name: str, version: int = 1) -> bytes:
    # Built unchecked: a producer of old could send what the contract now refuses (a NUL).
    payload = SpecialistRegistered.model_construct(
        specialist_id=SPECIALIST, name=name, email="ada@example.org", timezone="Europe/Paris"
    )
    envelope = Envelope(
        event_id=uuid4(),
        type="SpecialistRegistered",
        version=version,
        occurred_at=datetime(2026, 2, 1, 9, 0, tzinfo=UTC),
        producer="booking",
        notification_id=notification_id,
        aggregate_id=SPECIALIST,
        specialist_id=SPECIALIST,
        data=payload.model_dump(mode="json"),
    )
    return envelope.model_dump_json().encode()


async def inject(bootstrap: str, topic: str, *values: bytes) -> None:
    """Put messages on the specialist's partition, as the relay would (same key)."""
    producer = make_producer(bootstrap, client_id="test-inject")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=str(SPECIALIST).encode())
    finally:
        await close_quietly(producer.stop())


def counted(metric: str, **labels: str) -> float:
    return METRICS.get_sample_value(metric, labels) or 0.0


def parked(reason: str) -> float:
    return counted("kairos_consumer_dead_lettered_total", consumer=CONSUMER, reason=reason)


def specialist_name(database_url: str) -> str | None:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            sql.SQL("SELECT name FROM {} WHERE specialist_id = %s").format(
                sql.Identifier(SPECIALISTS.name)
            ),
            (SPECIALIST,),
        ).fetchone()
    return None if row is None else str(row[0])


async def eventually(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(check):
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.05)


@pytest.fixture
def topic() -> str:
    return f"test.poison.{uuid4().hex[:10]}"


@pytest.fixture
async def running(
    kafka: KafkaHandle, fresh_database: Callable[[], str], redis_url: str, topic: str
) -> AsyncIterator[tuple[EventConsumer, str]]:
    """The projector on `topic`, in a task, on a database of its own."""
    database_url = fresh_database()
    await ensure_topics(kafka.bootstrap, [topic])
    settings = availability_settings(database_url, redis_url).model_copy(
        update={"kafka_bootstrap_servers": kafka.bootstrap}
    )
    consumer = projector(settings, topic=topic, group_id=f"g-{uuid4().hex[:8]}", retry_delay=0.05)
    task = asyncio.create_task(consumer.run())
    yield consumer, database_url
    consumer.stop()
    await asyncio.wait_for(task, 30)  # raises what the projector raised


async def test_events_the_projector_cannot_apply_are_parked_and_later_events_still_project(
    kafka: KafkaHandle, topic: str, running: tuple[EventConsumer, str]
) -> None:
    _, database_url = running
    before = {r: parked(r) for r in ("invalid-payload", "undecodable", "unknown-type")}
    await inject(
        kafka.bootstrap,
        topic,
        registered(1, "Dr \x00Nul"),
        b"\x00\x01 not an event",
        registered(2, "Dr Future", version=99),
        registered(3, "Dr Ada"),
    )

    await eventually(lambda: specialist_name(database_url) == "Dr Ada", "event 3 projected")
    dead = await read_all(kafka.bootstrap, dead_letter_topic(topic), 3)
    assert [m["headers"]["dlq-reason"] for m in dead] == [
        "invalid-payload",  # the contract refuses a NUL before any handler sees it
        "undecodable",
        "unknown-type",
    ]
    assert "name" in dead[0]["headers"]["dlq-error"]
    assert "unknown version 99" in dead[2]["headers"]["dlq-error"]
    assert {m["headers"]["dlq-consumer"] for m in dead} == {CONSUMER}
    assert {r: parked(r) - before[r] for r in before} == {
        "invalid-payload": 1,
        "undecodable": 1,
        "unknown-type": 1,
    }


@contextmanager
def unreachable(postgres: PostgresHandle, database_url: str) -> Iterator[None]:
    """The database refuses new connections and loses its open ones, until the block ends."""
    name = sql.Identifier(database_name(database_url))
    with psycopg.connect(postgres.url, autocommit=True) as admin:
        admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(name))
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (database_name(database_url),),
        )
        try:
            yield
        finally:
            admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(name))


async def test_an_event_that_arrives_while_the_database_is_down_is_applied_once_it_is_back(
    kafka: KafkaHandle, postgres: PostgresHandle, topic: str, running: tuple[EventConsumer, str]
) -> None:
    _, database_url = running
    await inject(kafka.bootstrap, topic, registered(1, "Dr Ada"))
    await eventually(lambda: specialist_name(database_url) == "Dr Ada", "event 1 projected")
    parked_before = parked("handler-failed")
    retries_before = counted("kairos_consumer_database_retries_total", consumer=CONSUMER)

    with unreachable(postgres, database_url):
        await inject(kafka.bootstrap, topic, registered(2, "Dr Ada Lovelace"))
        await eventually(
            lambda: (
                counted("kairos_consumer_database_retries_total", consumer=CONSUMER)
                >= retries_before + 2
            ),
            "the projector met the outage and retried",
        )

    await eventually(
        lambda: specialist_name(database_url) == "Dr Ada Lovelace", "event 2 projected"
    )
    assert parked("handler-failed") == parked_before
    assert await messages_on(kafka.bootstrap, dead_letter_topic(topic)) == 0


async def messages_on(bootstrap: str, topic: str) -> int:
    """How many messages the single-partition `topic` holds (a dead-letter topic)."""
    reader = make_consumer(bootstrap, group_id=None, client_id="test-count")
    await reader.start()
    try:
        tp = TopicPartition(topic, 0)
        return int((await reader.end_offsets([tp]))[tp])
    finally:
        await close_quietly(reader.stop())
