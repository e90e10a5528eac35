"""The consumer runtime against a real broker and a real PostgreSQL database.

Messages are produced by hand here (the relay has its own tests), so each test
decides exactly what the consumer sees: redeliveries, garbage, gaps.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from aiokafka import TopicPartition
from prometheus_client import REGISTRY as METRICS

from kairos.events import CALENDAR_TOPIC, Envelope, dead_letter_topic
from kairos.events.booking import OverrideCleared, Payload, ScheduleSet, SpecialistRegistered
from kairos.events.calendar import ExternalBusyChanged
from kairos.messaging import (
    PREVIOUS_HEADER,
    AlreadyApplied,
    EventConsumer,
    GroupTimeouts,
    Handler,
    already_applied,
    applied_position,
    create_positions_table,
    ensure_topics,
    make_consumer,
    make_producer,
    partition_for,
    record,
)
from kairos.messaging.heartbeat import Heartbeat, heartbeat_topic
from kairos_dev.infra import KafkaHandle

pytestmark = [pytest.mark.integration]

PARTITIONS = 3
PRODUCER = "desks"
SPECIALIST = UUID("6b1c1c55-3c39-4d5e-9a53-0d2f7c1f0a01")
KEY = str(SPECIALIST).encode()
PARTITION = partition_for(KEY, PARTITIONS)
FAST = GroupTimeouts(session_timeout_ms=3000, heartbeat_interval_ms=300, rebalance_timeout_ms=2000)


def registered(n: int, name: str = "Dr Ada") -> Envelope:
    return envelope(
        n,
        SpecialistRegistered(
            specialist_id=SPECIALIST, name=name, email="ada@example.com", timezone="Europe/Paris"
        ),
    )


def cleared(n: int, day: date = date(2026, 3, 1)) -> Envelope:
    return envelope(n, OverrideCleared(specialist_id=SPECIALIST, date=day))


def envelope(n: int, payload: Payload, type_name: str | None = None) -> Envelope:
    return Envelope(
        event_id=uuid4(),
        type=type_name or type(payload).__name__,
        version=1,
        occurred_at=datetime(2026, 2, 1, 9, 0, tzinfo=UTC),
        producer=PRODUCER,
        notification_id=n,
        aggregate_id=SPECIALIST,
        specialist_id=SPECIALIST,
        data=payload.model_dump(mode="json"),
    )


@pytest.fixture
def topic() -> str:
    return f"test.{uuid4().hex[:10]}.events.v1"


@pytest.fixture
def database(fresh_database: Callable[[], str]) -> Iterator[str]:
    url = fresh_database()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE applied (notification_id bigint PRIMARY KEY, type text, seq bigserial)"
        )
        conn.execute("CREATE TABLE specialists (id uuid PRIMARY KEY, name text, timezone text)")
        create_positions_table(conn)
    yield url


async def produce(
    bootstrap: str, topic: str, *messages: Envelope | bytes, previous: dict[int, int] | None = None
) -> None:
    """Send to the test specialist's partition; `previous` maps notification id → header."""
    await ensure_topics(bootstrap, [topic], partitions=PARTITIONS)
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        for message in messages:
            value = message if isinstance(message, bytes) else message.model_dump_json().encode()
            headers = []
            if previous is not None and isinstance(message, Envelope):
                headers = [(PREVIOUS_HEADER, str(previous[message.notification_id]).encode())]
            await producer.send_and_wait(
                topic, value, key=KEY, partition=PARTITION, headers=headers
            )
    finally:
        await producer.stop()


def record_applied(conn: psycopg.Connection[Any], envelope: Envelope, payload: Any) -> None:
    # A plain INSERT: applying an event twice would violate the primary key.
    conn.execute(
        "INSERT INTO applied (notification_id, type) VALUES (%s, %s)",
        (envelope.notification_id, type(payload).__name__),
    )


def applied(database: str) -> list[tuple[int, str]]:
    with psycopg.connect(database) as conn:
        rows = conn.execute("SELECT notification_id, type FROM applied ORDER BY seq").fetchall()
    return [(int(n), str(t)) for n, t in rows]


def position(database: str, consumer: str) -> int:
    with psycopg.connect(database) as conn:
        return applied_position(conn, consumer, PRODUCER, PARTITION)


def counted(metric: str, **labels: str) -> float:
    return METRICS.get_sample_value(metric, labels) or 0.0


async def eventually(check: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.1)


class Running:
    """A consumer running in a task, stopped and awaited at the end of the test."""

    def __init__(self, consumer: EventConsumer) -> None:
        self.consumer = consumer
        self.task = asyncio.create_task(consumer.run())

    async def stop(self) -> None:
        self.consumer.stop()
        await asyncio.wait_for(self.task, 15)


@pytest.fixture
async def start(
    kafka: KafkaHandle, database: str, topic: str
) -> AsyncIterator[Callable[..., Awaitable[Running]]]:
    running: list[Running] = []

    async def start_consumer(
        handlers: dict[type[Payload], Handler],
        *,
        group: str = "g",
        name: str | None = None,
        **options: Any,
    ) -> Running:
        consumer = EventConsumer(
            kafka.bootstrap,
            topic,
            f"{topic}.{group}",
            handlers,
            database,
            name or f"{topic}.{group}",
            partitions=PARTITIONS,
            timeouts=FAST,
            **options,
        )
        running.append(Running(consumer))
        return running[-1]

    yield start_consumer
    for each in running:
        each.consumer.stop()
    await asyncio.gather(
        *(asyncio.wait_for(each.task, 15) for each in running), return_exceptions=True
    )


async def test_a_consumer_applies_typed_events_and_records_its_position_with_them(
    kafka: KafkaHandle, database: str, topic: str, start: Callable[..., Awaitable[Running]]
) -> None:
    seen: list[Payload] = []

    def on_registered(
        conn: psycopg.Connection[Any], env: Envelope, event: SpecialistRegistered
    ) -> None:
        seen.append(event)
        conn.execute(
            "INSERT INTO specialists (id, name) VALUES (%s, %s)", (event.specialist_id, event.name)
        )
        # The position is written by the same transaction, after the handler.
        assert applied_position(conn, running.consumer.name, PRODUCER, PARTITION) == 0

    def on_schedule(conn: psycopg.Connection[Any], env: Envelope, event: ScheduleSet) -> None:
        seen.append(event)
        conn.execute(
            "UPDATE specialists SET timezone = %s WHERE id = %s",
            (event.timezone, event.specialist_id),
        )

    schedule = envelope(2, ScheduleSet(specialist_id=SPECIALIST, timezone="Asia/Tokyo", weekly=[]))
    await produce(kafka.bootstrap, topic, registered(1), schedule, cleared(3))
    running = await start({SpecialistRegistered: on_registered, ScheduleSet: on_schedule})

    await eventually(lambda: position(database, running.consumer.name) == 3, what="3 events")
    assert [type(event) for event in seen] == [SpecialistRegistered, ScheduleSet]
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT name, timezone FROM specialists").fetchall() == [
            ("Dr Ada", "Asia/Tokyo")
        ]
    name = running.consumer.name
    assert counted("kairos_consumer_messages_total", consumer=name, outcome="applied") == 2
    assert counted("kairos_consumer_messages_total", consumer=name, outcome="unhandled") == 1
    assert counted("kairos_consumer_handler_seconds_count", consumer=name) == 2


@pytest.mark.parametrize("topic", [CALENDAR_TOPIC])
async def test_a_consumer_decodes_each_topic_with_that_topics_registry(
    kafka: KafkaHandle, database: str, topic: str, start: Callable[..., Awaitable[Running]]
) -> None:
    """calendar.events.v1 carries calendar-sync's event types, which booking's registry
    does not know: without its own registry the event would be dead-lettered."""
    busy = ExternalBusyChanged(
        connection_id=uuid4(),
        specialist_id=SPECIALIST,
        range_start=datetime(2026, 3, 1, tzinfo=UTC),
        range_end=datetime(2026, 4, 1, tzinfo=UTC),
        busy=[],
    )
    await produce(kafka.bootstrap, topic, envelope(1, busy))
    running = await start({ExternalBusyChanged: record_applied}, group=uuid4().hex)

    await eventually(lambda: position(database, running.consumer.name) == 1, what="the event")
    assert applied(database) == [(1, "ExternalBusyChanged")]


async def test_a_redelivered_event_is_skipped(
    kafka: KafkaHandle, database: str, topic: str, start: Callable[..., Awaitable[Running]]
) -> None:
    await produce(
        kafka.bootstrap,
        topic,
        registered(1),
        cleared(2),
        registered(1),
        cleared(2),
        cleared(3, date(2026, 3, 2)),
    )
    running = await start({SpecialistRegistered: record_applied, OverrideCleared: record_applied})

    await eventually(lambda: position(database, running.consumer.name) == 3, what="3 events")
    assert applied(database) == [
        (1, "SpecialistRegistered"),
        (2, "OverrideCleared"),
        (3, "OverrideCleared"),
    ]
    assert (
        counted(
            "kairos_consumer_messages_total", consumer=running.consumer.name, outcome="redelivered"
        )
        == 2
    )


async def test_garbage_goes_to_the_dead_letter_topic_and_the_consumer_carries_on(
    kafka: KafkaHandle, database: str, topic: str, start: Callable[..., Awaitable[Running]]
) -> None:
    unknown = envelope(
        1,
        OverrideCleared(specialist_id=SPECIALIST, date=date(2026, 3, 1)),
        type_name="SpecialistRetired",
    )
    invalid = registered(2).model_copy(update={"data": {"specialist_id": "not a uuid"}})
    await produce(
        kafka.bootstrap,
        topic,
        b"\xff\xfe not json",
        b'{"hello": "world"}',
        unknown,
        invalid,
        registered(3),
    )
    running = await start({SpecialistRegistered: record_applied})

    await eventually(lambda: applied(database) == [(3, "SpecialistRegistered")], what="event 3")
    dead = await read_all(kafka.bootstrap, dead_letter_topic(topic), 4)
    assert [m["headers"]["dlq-reason"] for m in dead] == [
        "undecodable",
        "invalid-envelope",
        "unknown-type",
        "invalid-payload",
    ]
    assert [m["headers"]["dlq-offset"] for m in dead] == ["0", "1", "2", "3"]
    assert {m["headers"]["dlq-topic"] for m in dead} == {topic}
    assert {m["headers"]["dlq-partition"] for m in dead} == {str(PARTITION)}
    assert {m["headers"]["dlq-consumer"] for m in dead} == {running.consumer.name}
    assert "SpecialistRetired" in dead[2]["headers"]["dlq-error"]
    assert "specialist_id" in dead[3]["headers"]["dlq-error"]
    assert dead[0]["value"] == b"\xff\xfe not json"
    assert json.loads(dead[3]["value"])["notification_id"] == 2
    # Dead-lettered events still advance the position: a redelivery is not dead-lettered twice.
    assert position(database, running.consumer.name) == 3


async def test_a_handler_that_keeps_failing_parks_its_event_and_the_consumer_goes_on(
    kafka: KafkaHandle, database: str, topic: str, start: Callable[..., Awaitable[Running]]
) -> None:
    calls: list[int] = []

    def failing_on_2(conn: psycopg.Connection[Any], env: Envelope, event: Any) -> None:
        calls.append(env.notification_id)
        record_applied(conn, env, event)
        if env.notification_id == 2:
            raise RuntimeError("the read model is broken for Dr Secret")

    await produce(kafka.bootstrap, topic, registered(1), cleared(2), cleared(3, date(2026, 3, 2)))
    running = await start({SpecialistRegistered: failing_on_2, OverrideCleared: failing_on_2})
    name = running.consumer.name

    await eventually(lambda: position(database, name) == 3, what="event 3 after the poison")
    # Retried (each attempt rolled back with the handler's write), then parked.
    assert calls.count(2) == 3
    assert applied(database) == [(1, "SpecialistRegistered"), (3, "OverrideCleared")]
    [parked] = await read_all(kafka.bootstrap, dead_letter_topic(topic), 1)
    assert json.loads(parked["value"])["notification_id"] == 2
    assert parked["headers"]["dlq-reason"] == "handler-failed"
    assert "RuntimeError: the read model is broken" in parked["headers"]["dlq-error"]
    assert parked["headers"]["dlq-consumer"] == name
    failed = counted("kairos_consumer_dead_lettered_total", consumer=name, reason="handler-failed")
    assert failed == 1
    assert counted("kairos_consumer_messages_total", consumer=name, outcome="dead_lettered") == 1
    await running.stop()
    # Offsets are committed after the database commits, the parked event's included.
    assert await committed_offsets(kafka.bootstrap, running.consumer.group_id, topic) == 3


async def test_a_parked_event_is_logged_without_the_personal_data_its_error_quotes(
    kafka: KafkaHandle,
    database: str,
    topic: str,
    start: Callable[..., Awaitable[Running]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    def refusing(conn: psycopg.Connection[Any], env: Envelope, event: Any) -> None:
        raise ValueError(f"cannot store {event.name!r} <{event.email}>")

    await produce(kafka.bootstrap, topic, registered(1, name="Dr Secret"), cleared(2))
    running = await start({SpecialistRegistered: refusing})

    await eventually(lambda: position(database, running.consumer.name) == 2, what="event 2")
    parked = [r.getMessage() for r in caplog.records if "dead-lettered" in r.getMessage()]
    assert len(parked) == 1
    assert "SpecialistRegistered" in parked[0] and "ValueError" in parked[0]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "Dr Secret" not in logged and "ada@example.com" not in logged


async def test_an_event_whose_predecessor_was_never_applied_waits_for_it(
    kafka: KafkaHandle, database: str, topic: str, start: Callable[..., Awaitable[Running]]
) -> None:
    # As after a broker restart: event 3 arrives first, then the relay republishes 1..3.
    chain = {1: 0, 2: 1, 3: 2}
    await produce(
        kafka.bootstrap, topic, cleared(3), registered(1), cleared(2), cleared(3), previous=chain
    )
    running = await start({SpecialistRegistered: record_applied, OverrideCleared: record_applied})

    await eventually(lambda: len(applied(database)) == 3, what="events 1..3")
    assert [n for n, _ in applied(database)] == [1, 2, 3]
    assert (
        counted("kairos_consumer_messages_total", consumer=running.consumer.name, outcome="gap")
        >= 1
    )


async def test_a_consumer_whose_offsets_point_past_unapplied_events_rereads_the_partition(
    kafka: KafkaHandle, database: str, topic: str, start: Callable[..., Awaitable[Running]]
) -> None:
    await produce(
        kafka.bootstrap, topic, registered(1), cleared(2), cleared(3), previous={1: 0, 2: 1, 3: 2}
    )
    group = f"{topic}.g"
    await commit_offset(kafka.bootstrap, group, TopicPartition(topic, PARTITION), 2)
    await start({SpecialistRegistered: record_applied, OverrideCleared: record_applied})

    await eventually(lambda: len(applied(database)) == 3, what="events 1..3")
    assert [n for n, _ in applied(database)] == [1, 2, 3]


def test_a_position_never_moves_backwards_so_a_racing_duplicate_rolls_back(
    database: str,
) -> None:
    with psycopg.connect(database) as conn:
        with conn.transaction():
            assert not already_applied(conn, "c", cleared(2), PARTITION)
            record(conn, "c", cleared(2), PARTITION)
        with pytest.raises(AlreadyApplied), conn.transaction():
            conn.execute("INSERT INTO applied (notification_id) VALUES (1)")
            record(conn, "c", registered(1), PARTITION)
        assert already_applied(conn, "c", cleared(2), PARTITION)
        assert not already_applied(conn, "c", cleared(3), PARTITION)
        assert conn.execute("SELECT count(*) FROM applied").fetchone() == (0,)
        assert applied_position(conn, "c", PRODUCER, PARTITION) == 2


async def read_all(bootstrap: str, topic: str, count: int) -> list[dict[str, Any]]:
    reader = make_consumer(bootstrap, group_id=None)
    await reader.start()
    try:
        await reader.topics()
        partitions = [
            TopicPartition(topic, p) for p in sorted(reader.partitions_for_topic(topic) or {0})
        ]
        reader.assign(partitions)
        await reader.seek_to_beginning(*partitions)
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + 20
        while len(messages) < count and time.monotonic() < deadline:
            for batch in (await reader.getmany(timeout_ms=200)).values():
                messages += [
                    {
                        "value": m.value,
                        "key": m.key,
                        "partition": m.partition,
                        "headers": {k: v.decode() for k, v in m.headers},
                    }
                    for m in batch
                ]
        return messages
    finally:
        await reader.stop()


async def committed_offsets(bootstrap: str, group: str, topic: str) -> int | None:
    tp = TopicPartition(topic, PARTITION)
    reader = make_consumer(bootstrap, group_id=group)
    await reader.start()
    try:
        reader.assign([tp])
        found = await reader.committed(tp)
    finally:
        await reader.stop()
    return None if found is None else int(found)


async def commit_offset(bootstrap: str, group: str, tp: TopicPartition, offset: int) -> None:
    committer = make_consumer(bootstrap, group_id=group)
    await committer.start()
    try:
        committer.assign([tp])
        await committer.commit({tp: offset})
    finally:
        await committer.stop()


async def beat(bootstrap: str, topic: str, top: int, published: int, ends: dict[int, int]) -> None:
    """A heartbeat as the topic's relay sends it: in sync now if it has published all."""
    now = time.time()
    heartbeat = Heartbeat(
        relay="test",
        topic=topic,
        top=top,
        published=published,
        in_sync_at=now if published >= top else None,
        ends=ends,
        sent_at=now,
    )
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(heartbeat_topic(topic), heartbeat.model_dump_json().encode())
    finally:
        await producer.stop()


async def test_a_consumer_measures_its_lag_against_the_log_and_says_unknown_without_heartbeats(
    kafka: KafkaHandle, database: str, topic: str, start: Callable[..., Awaitable[Running]]
) -> None:
    await produce(kafka.bootstrap, topic, registered(1))
    running = await start({SpecialistRegistered: record_applied}, heartbeat_timeout=1.0)
    consumer = running.consumer

    def lag_metric() -> float | None:
        return METRICS.get_sample_value("kairos_consumer_lag_events", {"consumer": consumer.name})

    # Everything on the broker is applied, but no relay has said where the log ends.
    await eventually(lambda: consumer.caught_up and position(database, consumer.name) == 1)
    await eventually(lambda: lag_metric() is not None, what="a lag measurement")
    assert consumer.lag_events is None and consumer.lag_seconds is None
    assert math.isnan(lag_metric() or 0.0)

    ends = {p: 0 for p in range(PARTITIONS)} | {PARTITION: 1}
    await beat(kafka.bootstrap, topic, top=1, published=1, ends=ends)
    await eventually(lambda: consumer.lag_events == 0, what="lag 0 after a heartbeat")
    assert consumer.lag_seconds is not None and lag_metric() == 0

    # The log grew, the broker has nothing new: two events behind, not 0.
    await beat(kafka.bootstrap, topic, top=3, published=1, ends=ends)
    await eventually(lambda: consumer.lag_events == 2, what="the unpublished events counted")

    # The relay falls silent: the lag is unknown, and the staleness keeps growing.
    before = consumer.lag_seconds
    await eventually(lambda: consumer.lag_events is None, what="the lag unknown")
    assert math.isnan(lag_metric() or 0.0)
    assert consumer.lag_seconds is not None and consumer.lag_seconds > before
