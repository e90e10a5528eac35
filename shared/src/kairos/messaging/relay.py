"""The outbox relay: publishes a producer's notification log to its Kafka topic.

The eventsourcing notification log is the outbox (ARCHITECTURE.md rule 1): the
relay reads it in order, maps each stored domain event to zero or one
integration event, publishes a batch, waits for every ack, and only then
records how far it got (`relay_positions`, in the producer's own database). A
relay that crashes resumes from its recorded position; what it republishes
keeps its event id and notification id, so consumers skip it.

Each message goes to the partition Kafka's default partitioner picks for its
key (the specialist id), and carries the notification id of the event before
it on that partition (`PREVIOUS_HEADER`): consumers use it to tell a
redelivery from a gap. The relay remembers, per partition, that last
notification id and the first offset its latest batch was acked at
(`relay_partitions`).

The topic must stay a clean log: each event once per partition, in order. So
the relay records the id of the topic it publishes to (the broker's topic id,
new whenever a topic is created), and publishes its log from the start only
into a topic that holds nothing. A topic with another id (the dev broker
restarted: it keeps everything in memory), a missing topic, one with the wrong
partition count, or acks at offsets at or below ones acked before mean the
topic it wrote is gone. Then, on the dev broker (KAFKA_TOPIC_MANAGEMENT=dev),
it stops its producer (nothing it still holds may land in the new topic),
makes the topic empty again (recreating it unless it already is), records the
new id, and republishes the whole log, once. Anywhere else the topic belongs
to the platform: the relay never deletes or recreates it, republishes only
into an empty topic of the right shape, and otherwise stops with TopicMismatch
(a missing topic is waited for). A broker without topic ids is checked by
offsets alone: a partition that now ends at or below an acked offset.

One relay per name runs at a time: it holds a PostgreSQL advisory lock.

About once a second the relay publishes a heartbeat on `<topic>.heartbeat`: the
log's top, how far it has published, when it last had published everything, and
the end offset of each partition (kairos.messaging.heartbeat); consumers measure
their lag against it. Its own lag (`kairos_relay_lag_events`: log top - published
through) is read from its database by a watcher that keeps going while the
broker is down; its readiness says whether the broker acknowledged a heartbeat
recently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar
from uuid import NAMESPACE_URL, UUID, uuid5

import psycopg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from eventsourcing.application import Application
from eventsourcing.persistence import InterfaceError as StoreInterfaceError
from eventsourcing.persistence import OperationalError as StoreOperationalError
from psycopg import sql

from kairos.events import Envelope, dead_letter_topic
from kairos.messaging.heartbeat import HEARTBEAT_PARTITIONS, Heartbeat, heartbeat_topic
from kairos.messaging.kafka import (
    DEAD_LETTER_PARTITIONS,
    PREVIOUS_HEADER,
    TOPIC_PARTITIONS,
    TopicMismatch,
    close_quietly,
    create_missing_topics,
    make_admin,
    make_consumer,
    make_producer,
    partition_for,
)
from kairos.messaging.metrics import (
    RELAY_LAG,
    RELAY_LAST_PUBLISH,
    RELAY_POSITION,
    RELAY_PUBLISHED,
    RELAY_RESETS,
)
from kairos.messaging.relay_topic import (
    Head,
    RelayState,
    RelayTopic,
    TopicMissing,
    TopicNotClean,
)
from kairos.messaging.worker import until_signalled
from kairos.settings import TopicManagement
from kairos.web.health import Check, postgres_check
from kairos.web.ops_server import serving_ops

log = logging.getLogger("kairos.messaging.relay")

#: Maps a stored domain event and its notification id to the integration event
#: to publish, or None for an event that stays inside the service.
EnvelopeMapper = Callable[[Any, int], Envelope | None]

A = TypeVar("A", bound=Application[Any])

EVENT_ID_NAMESPACE = uuid5(NAMESPACE_URL, "https://kairos.invalid/events")

_DDL = (
    """
    CREATE TABLE IF NOT EXISTS relay_positions (
        name text PRIMARY KEY,
        position bigint NOT NULL
    )
    """,
    # The id of the topic the log is published to (NULL: not known yet).
    "ALTER TABLE relay_positions ADD COLUMN IF NOT EXISTS topic_id uuid",
    """
    CREATE TABLE IF NOT EXISTS relay_partitions (
        name text NOT NULL,
        partition integer NOT NULL,
        notification_id bigint NOT NULL,
        kafka_offset bigint NOT NULL,
        PRIMARY KEY (name, partition)
    )
    """,
)
_DDL_LOCK = 0x6B6169726F730002
_NOTIFY_WAIT = 0.5
_RETRIABLE = (
    KafkaError,
    TopicMissing,
    TopicNotClean,
    OSError,
    TimeoutError,
    psycopg.OperationalError,
    StoreOperationalError,
    StoreInterfaceError,
)


def stable_event_id(producer: str, originator_id: UUID, originator_version: int) -> UUID:
    """An integration event's id: the same stored event always gets the same id."""
    return uuid5(EVENT_ID_NAMESPACE, f"{producer}/{originator_id}/{originator_version}")


class RelaySettings(Protocol):
    """What `run_relay` reads; ServiceSettings and its subclasses have it."""

    @property
    def database_url(self) -> str: ...
    @property
    def kafka_bootstrap_servers(self) -> str: ...
    @property
    def log_level(self) -> str: ...
    @property
    def kafka_partitions(self) -> int: ...
    @property
    def kafka_topic_management(self) -> TopicManagement: ...
    @property
    def ops_host(self) -> str: ...


class BrokerLostData(Exception):
    """The topic is not what this relay wrote: gone, re-created, or truncated."""


@dataclass(frozen=True)
class _Page:
    items: Sequence[tuple[int, Envelope | None]]
    top: int  # max notification id in the log


class OutboxRelay:
    """Publishes `app`'s notification log to `topic`; see the module docstring.

    `database_url` is the producer's database (the event store's): the relay
    keeps its position there and listens for the store's NOTIFY.
    `topic_management` says whether the topic is the dev broker's, which the relay
    may recreate, or the platform's, which it never deletes (KAFKA_TOPIC_MANAGEMENT).
    """

    def __init__(
        self,
        app: Application[Any],
        mapper: EnvelopeMapper,
        *,
        bootstrap: str,
        database_url: str,
        topic: str,
        topic_management: TopicManagement,
        name: str | None = None,
        partitions: int = TOPIC_PARTITIONS,
        batch_size: int = 500,
        poll_interval: float = 0.02,
        verify_interval: float = 1.0,
        retry_delay: float = 1.0,
        heartbeat_interval: float = 1.0,
        broker_timeout: float = 5.0,
    ) -> None:
        self.name = name or topic
        self.topic = topic
        self._app = app
        self._mapper = mapper
        self._bootstrap = bootstrap
        self._database_url = database_url
        self._partitions = partitions
        self._topic = RelayTopic(topic, self.name, partitions, topic_management)
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._verify_interval = verify_interval
        self._retry_delay = retry_delay
        self._heartbeat_interval = heartbeat_interval
        self._broker_timeout = broker_timeout
        self._stopping = asyncio.Event()
        self._producer: AIOKafkaProducer | None = None
        self._position: int | None = None  # published through, as last recorded
        self._in_sync_at: float | None = None  # Unix time the whole log was last published
        self._broker_acked_at: float | None = None  # monotonic time of the last heartbeat ack

    def stop(self) -> None:
        """Finish the batch in flight; `run()` then returns."""
        self._stopping.set()

    async def run(self) -> None:
        """Relay until `stop()`, reconnecting after broker or database outages."""
        watcher = asyncio.get_running_loop().create_task(self._watch_lag())
        try:
            while not self._stopping.is_set():
                try:
                    await self._session()
                except _RETRIABLE as exc:
                    if self._stopping.is_set():
                        break
                    log.warning("relay %s: %s; retrying", self.name, str(exc) or type(exc).__name__)
                    await self._sleep(self._retry_delay)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    def check_broker(self) -> None:
        """A readiness check: raises unless the broker acknowledged a heartbeat lately."""
        if self._broker_acked_at is None:
            raise RuntimeError("the broker has not acknowledged a heartbeat yet")
        silent = time.monotonic() - self._broker_acked_at
        if silent > self._broker_timeout:
            raise RuntimeError(f"no acknowledgement from the broker for {silent:.0f} s")

    async def _watch_lag(self) -> None:
        """Keep `kairos_relay_lag_events` true from the database, whatever the broker does."""
        while True:
            lag = math.nan
            try:
                top = await asyncio.to_thread(self._app.recorder.max_notification_id) or 0
                if self._position is not None:
                    lag = max(0, top - self._position)
            except _RETRIABLE as exc:
                log.debug("relay %s: lag unknown: %s", self.name, exc)
            RELAY_LAG.labels(self.name).set(lag)
            await asyncio.sleep(self._heartbeat_interval)

    async def _session(self) -> None:
        async with await psycopg.AsyncConnection.connect(
            self._database_url, autocommit=True
        ) as conn:
            if not await self._lock(conn):
                return
            await _create_tables(conn)
            channel = getattr(self._app.recorder, "channel_name", None)
            if channel is not None:
                await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            state = await _load_state(conn, self.name)
            self._recorded(state)
            admin = make_admin(self._bootstrap, client_id=f"relay-{self.name}-admin")
            reader = make_consumer(
                self._bootstrap, group_id=None, client_id=f"relay-{self.name}-offsets"
            )
            self._producer = make_producer(self._bootstrap, client_id=f"relay-{self.name}")
            try:
                await admin.start()
                await reader.start()
                await self._producer.start()
                await self._create_side_topics(admin)
                state = await self._verify(conn, admin, reader, state)
                await self._relay(conn, admin, reader, state, channel)
            finally:
                await close_quietly(self._producer.stop(), reader.stop(), admin.close())

    async def _relay(
        self,
        conn: psycopg.AsyncConnection[Any],
        admin: AIOKafkaAdminClient,
        reader: AIOKafkaConsumer,
        state: RelayState,
        channel: str | None,
    ) -> None:
        next_verify = time.monotonic() + self._verify_interval
        next_beat = 0.0
        while not self._stopping.is_set():
            read_at = time.time()
            page = await asyncio.to_thread(self._read, state.position)
            if page.items:
                try:
                    state = await self._publish(conn, page, state)
                except BrokerLostData as lost:
                    state = await self._reset(conn, admin, reader, state, str(lost))
                except KafkaError:
                    # Either the broker lost the topic (then start over) or it is
                    # unwell (then retry the same batch after a pause).
                    verified = await self._verify(conn, admin, reader, state)
                    if verified is state:
                        raise
                    state = verified
            if state.position >= page.top:
                self._in_sync_at = read_at  # all committed before the read is published
            if time.monotonic() >= next_beat:
                await self._beat(reader, page.top, state.position)
                next_beat = time.monotonic() + self._heartbeat_interval
            if page.items:
                continue
            if time.monotonic() >= next_verify:
                state = await self._verify(conn, admin, reader, state)
                next_verify = time.monotonic() + self._verify_interval
            await self._wait_for_news(conn, channel)

    async def _beat(self, reader: AIOKafkaConsumer, top: int, published: int) -> None:
        assert self._producer is not None
        partitions = [TopicPartition(self.topic, p) for p in range(self._partitions)]
        ends = await reader.end_offsets(partitions)
        beat = Heartbeat(
            relay=self.name,
            topic=self.topic,
            top=top,
            published=published,
            in_sync_at=self._in_sync_at,
            ends={tp.partition: int(offset) for tp, offset in ends.items()},
            sent_at=time.time(),
        )
        await self._producer.send_and_wait(
            heartbeat_topic(self.topic), beat.model_dump_json().encode(), key=self.name.encode()
        )
        self._broker_acked_at = time.monotonic()

    def _recorded(self, state: RelayState) -> None:
        self._position = state.position
        RELAY_POSITION.labels(self.name).set(state.position)

    def _read(self, position: int) -> _Page:
        recorder = self._app.recorder
        notifications = recorder.select_notifications(
            start=position, limit=self._batch_size, inclusive_of_start=False
        )
        items: list[tuple[int, Envelope | None]] = []
        for notification in notifications:
            envelope = self._mapper(self._app.mapper.to_domain_event(notification), notification.id)
            if envelope is not None and envelope.notification_id != notification.id:
                raise ValueError(
                    f"mapper gave notification id {envelope.notification_id} "
                    f"to notification {notification.id}"
                )
            items.append((notification.id, envelope))
        return _Page(items, recorder.max_notification_id() or 0)

    async def _publish(
        self, conn: psycopg.AsyncConnection[Any], page: _Page, state: RelayState
    ) -> RelayState:
        assert self._producer is not None
        last_on: dict[int, int] = {p: head.notification_id for p, head in state.heads.items()}
        sent: list[tuple[int, asyncio.Future[Any]]] = []
        for notification_id, envelope in page.items:
            if envelope is None:
                continue
            key = str(envelope.specialist_id).encode()
            partition = partition_for(key, self._partitions)
            previous = last_on.get(partition, 0)
            future = await self._producer.send(
                self.topic,
                value=envelope.model_dump_json().encode(),
                key=key,
                partition=partition,
                headers=[(PREVIOUS_HEADER, str(previous).encode())],
            )
            sent.append((partition, future))
            last_on[partition] = notification_id
        # Every send settles before an error is raised: a message still held by the
        # producer could otherwise land in the topic after it was made empty for a republish.
        outcomes = await asyncio.gather(*(future for _, future in sent), return_exceptions=True)
        if failed := next((o for o in outcomes if isinstance(o, BaseException)), None):
            raise failed
        acks: list[Any] = list(outcomes)
        first: dict[int, int] = {}
        for (partition, _), ack in zip(sent, acks, strict=True):
            first[partition] = min(first.get(partition, ack.offset), ack.offset)
        for partition, offset in first.items():
            before = state.heads.get(partition)
            if before is not None and offset <= before.offset:
                raise BrokerLostData(
                    f"partition {partition} took offset {offset}, "
                    f"but offset {before.offset} was acknowledged before"
                )
        changed = {p: Head(last_on[p], offset) for p, offset in first.items()}
        new_state = replace(state, position=page.items[-1][0], heads={**state.heads, **changed})
        await _save_state(conn, self.name, new_state, changed)
        self._recorded(new_state)
        if sent:
            RELAY_PUBLISHED.labels(self.name).inc(len(sent))
            RELAY_LAST_PUBLISH.labels(self.name).set(time.time())
        return new_state

    async def _verify(
        self,
        conn: psycopg.AsyncConnection[Any],
        admin: AIOKafkaAdminClient,
        reader: AIOKafkaConsumer,
        state: RelayState,
    ) -> RelayState:
        """`state` if the topic still holds what we wrote, else the state after a reset."""
        topic, reason = await self._topic.lost(admin, reader, state)
        if reason is not None:
            return await self._reset(conn, admin, reader, state, reason)
        if topic is not None and topic.topic_id is not None and state.topic_id is None:
            # First sight of the topic (or of one written before ids were kept): ours now.
            state = replace(state, topic_id=topic.topic_id)
            await _save_state(conn, self.name, state, {})
        return state

    async def _reset(
        self,
        conn: psycopg.AsyncConnection[Any],
        admin: AIOKafkaAdminClient,
        reader: AIOKafkaConsumer,
        state: RelayState,
        reason: str,
    ) -> RelayState:
        if state.position or state.heads:
            log.warning(
                "relay %s: %s: the broker lost %s; republishing the log from the start",
                self.name,
                reason,
                self.topic,
            )
            RELAY_RESETS.labels(self.name).inc()
        else:
            log.info("relay %s: %s: making it ready for the log", self.name, reason)
        # Stopped before the topic is made empty: nothing it holds may land in the new one.
        if self._producer is not None:
            await close_quietly(self._producer.stop())
        topic = await self._topic.make_clean(admin, reader, reason)
        await self._create_side_topics(admin)
        fresh = RelayState(topic_id=topic.topic_id)
        await _save_state(conn, self.name, fresh, {}, reset=True)
        self._recorded(fresh)
        # A fresh producer: the old one is stopped, and its metadata describes the lost topic.
        self._producer = make_producer(self._bootstrap, client_id=f"relay-{self.name}")
        await self._producer.start()
        return fresh

    async def _create_side_topics(self, admin: AIOKafkaAdminClient) -> None:
        """The dead-letter and heartbeat topics, on the dev broker; elsewhere the platform's."""
        if self._topic.management == "dev":
            await create_missing_topics(
                admin,
                {
                    dead_letter_topic(self.topic): DEAD_LETTER_PARTITIONS,
                    heartbeat_topic(self.topic): HEARTBEAT_PARTITIONS,
                },
            )

    async def _lock(self, conn: psycopg.AsyncConnection[Any]) -> bool:
        waiting_said = False
        while not self._stopping.is_set():
            cursor = await conn.execute(
                "SELECT pg_try_advisory_lock(hashtext(%s))", (f"kairos.relay:{self.name}",)
            )
            row = await cursor.fetchone()
            if row is not None and row[0]:
                return True
            if not waiting_said:
                log.info("relay %s: another relay holds the lock; waiting", self.name)
                waiting_said = True
            await self._sleep(1.0)
        return False

    async def _wait_for_news(self, conn: psycopg.AsyncConnection[Any], channel: str | None) -> None:
        if channel is None:
            await self._sleep(self._poll_interval)
            return
        # Iterate to the end: leaving the generator early would keep the connection locked.
        async for _ in conn.notifies(
            timeout=min(_NOTIFY_WAIT, self._verify_interval), stop_after=1
        ):
            pass

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)


async def _create_tables(conn: psycopg.AsyncConnection[Any]) -> None:
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK,))
        for statement in _DDL:
            await conn.execute(statement)


async def _load_state(conn: psycopg.AsyncConnection[Any], name: str) -> RelayState:
    cursor = await conn.execute(
        "SELECT position, topic_id FROM relay_positions WHERE name = %s", (name,)
    )
    row = await cursor.fetchone()
    cursor = await conn.execute(
        "SELECT partition, notification_id, kafka_offset FROM relay_partitions WHERE name = %s",
        (name,),
    )
    heads = {int(p): Head(int(n), int(o)) for p, n, o in await cursor.fetchall()}
    if row is None:
        return RelayState(heads=heads)
    return RelayState(int(row[0]), heads, row[1])


async def _save_state(
    conn: psycopg.AsyncConnection[Any],
    name: str,
    state: RelayState,
    changed: dict[int, Head],
    *,
    reset: bool = False,
) -> None:
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO relay_positions (name, position, topic_id) VALUES (%s, %s, %s)"
            " ON CONFLICT (name) DO UPDATE"
            " SET position = EXCLUDED.position, topic_id = EXCLUDED.topic_id",
            (name, state.position, state.topic_id),
        )
        if reset:
            await conn.execute("DELETE FROM relay_partitions WHERE name = %s", (name,))
        if changed:
            async with conn.cursor() as cursor:
                await cursor.executemany(
                    "INSERT INTO relay_partitions"
                    " (name, partition, notification_id, kafka_offset) VALUES (%s, %s, %s, %s)"
                    " ON CONFLICT (name, partition) DO UPDATE SET"
                    " notification_id = EXCLUDED.notification_id,"
                    " kafka_offset = EXCLUDED.kafka_offset",
                    [(name, p, h.notification_id, h.offset) for p, h in changed.items()],
                )


def run_relay(
    app_factory: Callable[[], A],
    mapper: Callable[[A], EnvelopeMapper],
    settings: RelaySettings,
    *,
    topic: str,
    name: str | None = None,
    batch_size: int = 500,
    ops_port: int | None = None,
) -> None:
    """Run a relay until SIGTERM or SIGINT: the body of `python -m <service>.relay`.

    `mapper` builds the event mapper from the application (e.g. the service's
    `IntegrationMapper` class). Serves /healthz, /readyz and /metrics on `ops_port`
    (on OPS_HOST). Exits with status 2 when it may not publish to the topic as it is
    (TopicMismatch: the message says why and what to do).
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )
    app = app_factory()
    try:
        relay = OutboxRelay(
            app,
            mapper(app),
            bootstrap=settings.kafka_bootstrap_servers,
            database_url=settings.database_url,
            topic=topic,
            topic_management=settings.kafka_topic_management,
            name=name,
            partitions=settings.kafka_partitions,
            batch_size=batch_size,
        )
        asyncio.run(until_signalled(_published(relay, settings, ops_port), relay.stop))
    except TopicMismatch as refused:
        log.error("relay %s: refusing to run: %s", name or topic, refused)
        raise SystemExit(2) from None
    finally:
        app.close()


def relay_checks(relay: OutboxRelay, database_url: str) -> dict[str, Check]:
    """What the relay's /readyz checks: its database, and a broker that acknowledges."""
    return {"postgres": postgres_check(database_url), "kafka": relay.check_broker}


async def _published(relay: OutboxRelay, settings: RelaySettings, ops_port: int | None) -> None:
    checks = relay_checks(relay, settings.database_url)
    async with serving_ops(f"relay-{relay.name}", ops_port, checks, host=settings.ops_host):
        log.info("relay %s: publishing to %s", relay.name, relay.topic)
        await relay.run()
