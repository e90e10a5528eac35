"""The outbox relay end to end: a tiny event-sourced application on PostgreSQL, a real broker.

`relay_main` runs a relay for that application in a process of its own, so a
test can kill it with SIGKILL.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from aiokafka import TopicPartition
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY as METRICS

from kairos.events import Envelope, dead_letter_topic
from kairos.events.booking import OverrideCleared, Payload, SpecialistRegistered
from kairos.eventstore import postgres_env
from kairos.messaging import (
    PREVIOUS_HEADER,
    EventConsumer,
    GroupTimeouts,
    Handler,
    OutboxRelay,
    ensure_topics,
    make_admin,
    make_consumer,
    make_producer,
    run_relay,
    stable_event_id,
)
from kairos.messaging.kafka import TopicMismatch, create_missing_topics
from kairos.messaging.relay import relay_checks
from kairos.messaging.topic_metadata import TopicInfo, describe_topic
from kairos.settings import TopicManagement
from kairos.web.ops_server import ops_app
from kairos_dev.infra import KafkaHandle

pytestmark = [pytest.mark.integration]

PRODUCER = "desks"
PARTITIONS = 3
FAST = GroupTimeouts(session_timeout_ms=3000, heartbeat_interval_ms=300, rebalance_timeout_ms=2000)
FIRST_DAY = date(2026, 3, 2)


class Desk(Aggregate):
    """A specialist's desk. Registering and clearing days are public; notes stay inside."""

    @event("Registered")
    def __init__(self, name: str) -> None:
        self.name = name

    @event("DayCleared")
    def clear(self, day: str) -> None:  # ISO date: the store's JSON has no date type
        pass

    @event("Noted")
    def note(self, text: str) -> None:
        pass


class Desks(Application[UUID]):
    name = "desks"

    def open(self, name: str) -> UUID:
        desk = Desk(name)
        desk.note("opened")
        self.save(desk)
        return desk.id

    def clear(self, desk_id: UUID, day: date) -> None:
        desk: Desk = self.repository.get(desk_id)
        desk.clear(day.isoformat())
        self.save(desk)


def to_envelope(domain_event: Any, notification_id: int) -> Envelope | None:
    payload: Payload
    if isinstance(domain_event, Desk.Registered):
        payload = SpecialistRegistered(
            specialist_id=domain_event.originator_id,
            name=domain_event.name,
            email="desk@example.com",
            timezone="Europe/Paris",
        )
    elif isinstance(domain_event, Desk.DayCleared):
        day = date.fromisoformat(domain_event.day)
        payload = OverrideCleared(specialist_id=domain_event.originator_id, date=day)
    else:
        return None
    return Envelope(
        event_id=stable_event_id(
            PRODUCER, domain_event.originator_id, domain_event.originator_version
        ),
        type=type(payload).__name__,
        version=1,
        occurred_at=domain_event.timestamp,
        producer=PRODUCER,
        notification_id=notification_id,
        aggregate_id=domain_event.originator_id,
        specialist_id=domain_event.originator_id,
        data=payload.model_dump(mode="json"),
    )


def published(database: str) -> list[int]:
    """Notification ids the relay must publish: every event but the notes."""
    app = Desks(env=postgres_env(database))
    try:
        return [
            n.id
            for n in app.recorder.select_notifications(start=1, limit=100_000)
            if not n.topic.endswith("Desk.Noted")
        ]
    finally:
        app.close()


@dataclass
class Message:
    partition: int
    offset: int
    key: bytes
    previous: int
    envelope: Envelope


async def read_topic(bootstrap: str, topic: str, count: int, timeout: float = 30) -> list[Message]:
    """Every message of `topic` from the beginning, once at least `count` arrived."""
    reader = make_consumer(bootstrap, group_id=None)
    await reader.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        reader.assign(partitions)
        await reader.seek_to_beginning(*partitions)
        messages: list[Message] = []
        deadline = time.monotonic() + timeout
        while len(messages) < count:
            assert time.monotonic() < deadline, f"{len(messages)} of {count} messages arrived"
            for batch in (await reader.getmany(timeout_ms=200)).values():
                messages += [
                    Message(
                        m.partition,
                        m.offset,
                        m.key,
                        int(dict(m.headers)[PREVIOUS_HEADER]),
                        Envelope.model_validate_json(m.value),
                    )
                    for m in batch
                ]
        return messages
    finally:
        await reader.stop()


async def read_whole_topic(bootstrap: str, topic: str) -> list[Message]:
    """Every message the topic holds now: up to each partition's end offset."""
    reader = make_consumer(bootstrap, group_id=None)
    await reader.start()
    try:
        ends = await reader.end_offsets([TopicPartition(topic, p) for p in range(PARTITIONS)])
    finally:
        await reader.stop()
    return await read_topic(bootstrap, topic, sum(ends.values()))


def follow(messages: list[Message]) -> list[int]:
    """What a consumer applies: per partition, skip redeliveries, never skip a predecessor."""
    last: dict[int, int] = {}
    applied: list[int] = []
    for message in sorted(messages, key=lambda m: (m.partition, m.offset)):
        n = message.envelope.notification_id
        if n <= last.get(message.partition, 0):
            continue
        assert message.previous == last.get(message.partition, 0), (
            f"partition {message.partition}: {n} follows {message.previous}, "
            f"but {last.get(message.partition, 0)} came before it"
        )
        last[message.partition] = n
        applied.append(n)
    return sorted(applied)


def relay_position(database: str, name: str) -> int:
    with psycopg.connect(database) as conn:
        try:
            row = conn.execute(
                "SELECT position FROM relay_positions WHERE name = %s", (name,)
            ).fetchone()
        except psycopg.errors.UndefinedTable:
            return 0
    return int(row[0]) if row else 0


def sample(metric: str, **labels: str) -> float:
    return METRICS.get_sample_value(metric, labels) or 0.0


async def eventually(check: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.1)


@pytest.fixture
def topic(request: pytest.FixtureRequest) -> str:
    return f"test.relay.{abs(hash(request.node.nodeid)) % 10**8}.{time.time_ns() % 10**6}"


@pytest.fixture
def desks(fresh_database: Callable[[], str]) -> Iterator[tuple[Desks, str]]:
    database = fresh_database()
    app = Desks(env=postgres_env(database))
    yield app, database
    app.close()


@pytest.fixture
async def tasks() -> AsyncIterator[list[tuple[Any, asyncio.Task[None]]]]:
    """Relays and consumers running in tasks; stopped at the end, failing on their errors."""
    running: list[tuple[Any, asyncio.Task[None]]] = []
    yield running
    for runner, _ in running:
        runner.stop()
    for _, task in running:
        await asyncio.wait_for(task, 20)


def desk_relay(
    desks: tuple[Desks, str],
    bootstrap: str,
    topic: str,
    management: TopicManagement = "dev",
    **options: Any,
) -> OutboxRelay:
    app, database = desks
    return OutboxRelay(
        app,
        to_envelope,
        bootstrap=bootstrap,
        database_url=database,
        topic=topic,
        topic_management=management,
        partitions=PARTITIONS,
        **options,
    )


def read_model_consumer(
    bootstrap: str, topic: str, handlers: dict[type[Payload], Handler], database: str
) -> EventConsumer:
    """A consumer quick to notice a broker that went away."""
    return EventConsumer(
        bootstrap,
        topic,
        "read-model",
        handlers,
        database,
        partitions=PARTITIONS,
        timeouts=FAST,
        check_interval=0.5,
        stall_timeout=3.0,
        retry_delay=0.2,
    )


def start(running: list[tuple[Any, asyncio.Task[None]]], runner: Any) -> None:
    running.append((runner, asyncio.create_task(runner.run())))


def write_events(app: Desks, desks: int, days: int = 2) -> None:
    for d in range(desks):
        desk_id = app.open(f"Desk {d}")
        for i in range(days):
            app.clear(desk_id, FIRST_DAY + timedelta(days=i))


async def test_the_relay_publishes_the_log_in_order_as_envelopes_without_internal_events(
    kafka: KafkaHandle, desks: tuple[Desks, str], topic: str, tasks: list[Any]
) -> None:
    app, database = desks
    write_events(app, desks=4)
    relay = desk_relay(desks, kafka.bootstrap, topic, batch_size=5)
    start(tasks, relay)

    expected = published(database)
    assert len(expected) == 12  # 4 desks x (registered + 2 days cleared); 4 notes stay inside
    messages = await read_topic(kafka.bootstrap, topic, len(expected))
    assert sorted(m.envelope.notification_id for m in messages) == expected
    assert follow(messages) == expected
    for message in messages:
        assert message.key == str(message.envelope.specialist_id).encode()
        assert message.envelope.producer == PRODUCER
    registered = [m.envelope for m in messages if m.envelope.type == "SpecialistRegistered"]
    assert {e.data["name"] for e in registered} == {f"Desk {d}" for d in range(4)}
    assert all(e.event_id == stable_event_id(PRODUCER, e.aggregate_id, 1) for e in registered)

    # Events written while it runs arrive too (woken by the event store's NOTIFY).
    write_events(app, desks=1)
    expected = published(database)
    messages = await read_topic(kafka.bootstrap, topic, len(expected))
    assert follow(messages) == expected
    top = app.recorder.max_notification_id()
    await eventually(lambda: relay_position(database, topic) == top, what="the final position")
    await eventually(lambda: sample("kairos_relay_lag_events", relay=topic) == 0, what="lag 0")
    assert sample("kairos_relay_published_total", relay=topic) == len(expected)
    assert sample("kairos_relay_last_publish_timestamp_seconds", relay=topic) > 0


async def test_a_second_relay_of_the_same_name_waits_for_the_first(
    kafka: KafkaHandle, desks: tuple[Desks, str], topic: str, tasks: list[Any]
) -> None:
    app, database = desks
    write_events(app, desks=2)
    first = desk_relay(desks, kafka.bootstrap, topic)
    second = desk_relay(desks, kafka.bootstrap, topic)
    start(tasks, first)
    await read_topic(kafka.bootstrap, topic, 6)
    start(tasks, second)
    first.stop()
    await asyncio.wait_for(tasks[0][1], 20)

    write_events(app, desks=1)
    expected = published(database)
    messages = await read_topic(kafka.bootstrap, topic, len(expected))
    assert follow(messages) == expected


async def test_a_relay_killed_mid_stream_resumes_and_loses_nothing(
    kafka: KafkaHandle, desks: tuple[Desks, str], topic: str
) -> None:
    app, database = desks
    write_events(app, desks=20)
    writer = threading.Thread(target=write_events, args=(app, 60))
    writer.start()  # the stream keeps flowing while the relay dies and comes back
    relay = relay_process(database, kafka.bootstrap, topic)
    try:
        await eventually(lambda: relay_position(database, topic) >= 40, what="some progress")
        relay.send_signal(signal.SIGKILL)
        relay.wait(10)
        stopped_at = relay_position(database, topic)
        relay = relay_process(database, kafka.bootstrap, topic)
        await asyncio.to_thread(writer.join)
        top = app.recorder.max_notification_id()
        assert stopped_at < top, "the relay finished before it was killed"
        await eventually(
            lambda: relay_position(database, topic) == top,
            timeout=60,
            what="the restarted relay to catch up",
        )
    finally:
        relay.send_signal(signal.SIGTERM)
        assert relay.wait(20) == 0

    expected = published(database)
    messages = await read_topic(kafka.bootstrap, topic, len(expected))
    assert {m.envelope.notification_id for m in messages} == set(expected)
    assert follow(messages) == expected


async def test_restarting_the_broker_loses_nothing_and_each_event_is_applied_once(
    own_kafka: KafkaHandle,
    desks: tuple[Desks, str],
    topic: str,
    tasks: list[Any],
    fresh_database: Callable[[], str],
) -> None:
    app, database = desks
    read_model = fresh_database()
    with psycopg.connect(read_model, autocommit=True) as conn:
        conn.execute("CREATE TABLE applied (event_id uuid PRIMARY KEY, notification_id bigint)")

    def apply(conn: psycopg.Connection[Any], envelope: Envelope, payload: Any) -> None:
        # A plain INSERT: applying an event twice would fail the consumer.
        conn.execute(
            "INSERT INTO applied VALUES (%s, %s)", (envelope.event_id, envelope.notification_id)
        )

    def applied() -> list[int]:
        with psycopg.connect(read_model) as conn:
            rows = conn.execute("SELECT notification_id FROM applied").fetchall()
        return sorted(int(n) for (n,) in rows)

    relay = desk_relay(desks, own_kafka.bootstrap, topic, verify_interval=0.5, retry_delay=0.2)
    handlers = {SpecialistRegistered: apply, OverrideCleared: apply}
    consumer = read_model_consumer(own_kafka.bootstrap, topic, handlers, read_model)
    start(tasks, relay)
    start(tasks, consumer)
    write_events(app, desks=10)
    await eventually(lambda: applied() == published(database), what="the first events")

    # Restarted mid-stream: the relay's producer writes into the empty broker.
    writer = threading.Thread(target=write_events, args=(app, 10))
    writer.start()
    await asyncio.to_thread(own_kafka.restart)
    await asyncio.to_thread(writer.join)
    write_events(app, desks=5)
    await eventually(lambda: applied() == published(database), timeout=60, what="every event")

    # Restarted while all is quiet: only the periodic checks notice.
    await asyncio.to_thread(own_kafka.restart)
    await asyncio.sleep(1.5)
    write_events(app, desks=5)
    expected = published(database)
    await eventually(lambda: applied() == expected, timeout=60, what="every event, again")

    assert not any(task.done() for _, task in tasks), "the relay or consumer died"
    assert sample("kairos_relay_resets_total", relay=topic) >= 2


def relay_process(
    database: str, bootstrap: str, topic: str, management: TopicManagement = "dev", **popen: Any
) -> subprocess.Popen[bytes]:
    """`relay_main` in a process of its own, importing this module under the same name so
    the stored events' topics resolve to the same classes."""
    here = Path(__file__).resolve()
    code = (
        f"import importlib, sys; sys.path[:0] = {[str(here.parents[2]), str(here.parent)]!r};"
        f" importlib.import_module({__name__!r}).relay_main(sys.argv[1:])"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, database, bootstrap, topic, management],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        **popen,
    )


@dataclass(frozen=True)
class _Settings:
    database_url: str
    kafka_bootstrap_servers: str
    kafka_topic_management: TopicManagement = "dev"
    kafka_partitions: int = PARTITIONS
    ops_host: str = "127.0.0.1"
    log_level: str = "WARNING"


def relay_main(argv: list[str]) -> None:
    database_url, bootstrap, topic, management = argv
    assert management in ("dev", "external")
    run_relay(
        lambda: Desks(env=postgres_env(database_url)),
        lambda app: to_envelope,
        _Settings(database_url, bootstrap, management),
        topic=topic,
        batch_size=20,
    )


async def test_while_the_broker_is_down_the_relay_counts_its_lag_from_the_log_and_is_not_ready(
    own_kafka: KafkaHandle, desks: tuple[Desks, str], topic: str, tasks: list[Any]
) -> None:
    app, database = desks
    write_events(app, desks=1)
    relay = desk_relay(
        desks,
        own_kafka.bootstrap,
        topic,
        retry_delay=0.2,
        heartbeat_interval=0.2,
        broker_timeout=1.0,
    )
    start(tasks, relay)
    assert own_kafka.broker is not None
    with TestClient(ops_app("relay", relay_checks(relay, database))) as ops:

        def ready() -> int:
            return ops.get("/readyz").status_code

        def lag() -> float:
            return sample("kairos_relay_lag_events", relay=topic)

        await eventually(lambda: ready() == 200 and lag() == 0, what="the relay caught up")

        await asyncio.to_thread(own_kafka.broker.stop)
        top = app.recorder.max_notification_id() or 0
        write_events(app, desks=2)
        unpublished = (app.recorder.max_notification_id() or 0) - top
        await eventually(lambda: lag() == unpublished, what="the lag of the unpublished events")
        await eventually(lambda: ready() == 503, what="the relay not ready")
        assert "broker" in ops.get("/readyz").json()["checks"]["kafka"]

        await asyncio.to_thread(own_kafka.broker.start)
        await eventually(lambda: ready() == 200 and lag() == 0, timeout=60, what="recovery")


async def test_after_broker_restarts_the_topic_holds_the_log_once_in_order(
    own_kafka: KafkaHandle,
    desks: tuple[Desks, str],
    topic: str,
    tasks: list[Any],
    fresh_database: Callable[[], str],
) -> None:
    """The topic stays a clean log: a restart mid-stream makes the relay republish into an
    empty topic, once; nothing the old broker or the old producer held comes back."""
    app, database = desks
    relay = desk_relay(
        desks, own_kafka.bootstrap, topic, batch_size=20, verify_interval=0.5, retry_delay=0.2
    )
    # A consumer too: after a restart it (re)creates the topic, racing the relay.
    consumer = read_model_consumer(own_kafka.bootstrap, topic, {}, fresh_database())
    start(tasks, relay)
    start(tasks, consumer)
    write_events(app, desks=10)
    await eventually(lambda: relay_position(database, topic) > 0, what="the first batch")
    for _ in range(2):
        writer = threading.Thread(target=write_events, args=(app, 40))
        writer.start()  # bookings keep flowing while the broker goes away
        await eventually(lambda: relay_position(database, topic) > 0, what="some progress")
        await asyncio.to_thread(own_kafka.restart)
        await asyncio.to_thread(writer.join)
    top = app.recorder.max_notification_id()
    await eventually(
        lambda: relay_position(database, topic) == top, timeout=60, what="the relay to catch up"
    )

    expected = published(database)
    messages = await read_whole_topic(own_kafka.bootstrap, topic)
    ids = sorted(m.envelope.notification_id for m in messages)
    assert ids == expected, f"{len(ids) - len(set(ids))} duplicates, {len(ids)} messages"
    for partition in range(PARTITIONS):
        on_partition = [
            m.envelope.notification_id
            for m in sorted(messages, key=lambda m: m.offset)
            if m.partition == partition
        ]
        assert on_partition == sorted(set(on_partition)), f"partition {partition} goes back"
    assert not any(task.done() for _, task in tasks), "the relay or consumer died"


# --- topic ownership (KAFKA_TOPIC_MANAGEMENT=external: the platform's topics) ---------


async def topic_records(bootstrap: str, topic: str, partitions: int) -> int:
    reader = make_consumer(bootstrap, group_id=None)
    await reader.start()
    try:
        ends = await reader.end_offsets([TopicPartition(topic, p) for p in range(partitions)])
    finally:
        await reader.stop()
    return sum(ends.values())


async def platform_topic(bootstrap: str, topic: str, partitions: int) -> TopicInfo:
    """A topic as the platform would create it, holding one record of someone else's."""
    await create_topics(bootstrap, {topic: partitions})
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        await (await producer.send(topic, b"not the relay's", partition=0))
    finally:
        await producer.stop()
    return await describe(bootstrap, topic)


async def create_topics(bootstrap: str, partitions_by_topic: dict[str, int]) -> None:
    admin = make_admin(bootstrap)
    await admin.start()
    try:
        await create_missing_topics(admin, partitions_by_topic)
    finally:
        await admin.close()


async def describe(bootstrap: str, topic: str) -> TopicInfo:
    admin = make_admin(bootstrap)
    await admin.start()
    try:
        info = await describe_topic(admin, topic)
        assert info is not None, f"{topic} does not exist"
        return info
    finally:
        await admin.close()


async def topics(bootstrap: str) -> set[str]:
    admin = make_admin(bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def test_a_relay_refuses_a_platform_topic_of_another_partition_count_and_deletes_nothing(
    kafka: KafkaHandle, desks: tuple[Desks, str], topic: str
) -> None:
    app, database = desks
    write_events(app, desks=2)
    before = await platform_topic(kafka.bootstrap, topic, PARTITIONS + 1)
    assert before.topic_id is not None, "the broker gives topic ids"

    relay = relay_process(database, kafka.bootstrap, topic, "external", stderr=subprocess.PIPE)
    _, stderr = await asyncio.to_thread(relay.communicate, timeout=60)

    assert relay.returncode == 2, stderr.decode()
    said = stderr.decode()
    assert f"topic {topic} has {PARTITIONS + 1} partitions, but KAFKA_PARTITIONS is 3" in said
    assert "never deleted or recreated" in said
    assert await describe(kafka.bootstrap, topic) == before  # the same topic: same id
    assert await topic_records(kafka.bootstrap, topic, PARTITIONS + 1) == 1
    assert dead_letter_topic(topic) not in await topics(kafka.bootstrap)
    assert relay_position(database, topic) == 0


async def test_a_relay_refuses_to_publish_its_log_into_a_platform_topic_holding_records(
    kafka: KafkaHandle, desks: tuple[Desks, str], topic: str
) -> None:
    app, _ = desks
    write_events(app, desks=2)
    before = await platform_topic(kafka.bootstrap, topic, PARTITIONS)
    relay = desk_relay(desks, kafka.bootstrap, topic, "external")
    with pytest.raises(TopicMismatch, match="holds 1 records"):
        await asyncio.wait_for(relay.run(), 30)
    assert await describe(kafka.bootstrap, topic) == before
    assert await topic_records(kafka.bootstrap, topic, PARTITIONS) == 1


async def test_a_relay_waits_for_the_platform_to_create_its_topic_and_creates_nothing(
    kafka: KafkaHandle,
    desks: tuple[Desks, str],
    topic: str,
    tasks: list[Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, database = desks
    write_events(app, desks=2)
    relay = desk_relay(desks, kafka.bootstrap, topic, "external", retry_delay=0.2)
    start(tasks, relay)
    await eventually(
        lambda: f"topic {topic} does not exist" in caplog.text, what="the relay to wait"
    )
    assert not {topic, dead_letter_topic(topic)} & await topics(kafka.bootstrap)

    await create_topics(kafka.bootstrap, {topic: PARTITIONS})  # the platform's turn
    expected = published(database)
    messages = await read_topic(kafka.bootstrap, topic, len(expected))
    assert follow(messages) == expected
    assert dead_letter_topic(topic) not in await topics(kafka.bootstrap)


async def test_consumers_check_platform_topics_and_create_none(
    kafka: KafkaHandle, topic: str
) -> None:
    missing = f"{topic}.missing"
    await create_topics(kafka.bootstrap, {topic: PARTITIONS + 1})
    with pytest.raises(TopicMismatch, match=f"has {PARTITIONS + 1} partitions"):
        await ensure_topics(kafka.bootstrap, [topic], partitions=PARTITIONS, management="external")
    assert await ensure_topics(kafka.bootstrap, [missing], management="external") == []
    assert not {missing, dead_letter_topic(missing)} & await topics(kafka.bootstrap)
