"""The consumer runtime: typed handlers, positions in the consumer's database, a DLQ.

Each event is applied in one database transaction together with its position
(ARCHITECTURE.md rule 3), and the Kafka offset is committed only after that
transaction commits: a crash redelivers, and the position skips the redelivery.

A poison event never stops a consumer (rule 8). A message that cannot be
decoded, and an event whose handler keeps raising for a reason that is not
transient (a NUL byte the database refuses, a bug), is parked: sent to the
topic's dead-letter topic with the reason in its headers, counted in
`kairos_consumer_dead_lettered_total{reason}`, logged without its content, and
recorded as done so the consumer goes on with the next. A transient failure (the
database unreachable, restarting, or a transaction that lost a serialization
race) is retried with backoff for as long as it lasts, and never parked.

The relay stamps each message with the notification id of the event before it
on the same partition (`PREVIOUS_HEADER`). An event whose predecessor this
consumer has not applied is never applied out of order: that only happens when
the broker lost messages (or this consumer's committed offsets point past
them), so the consumer re-reads the partition from its beginning once and
otherwise waits for the relay to republish the missing events.

Lag and staleness are measured against the producer's notification log, from the
relay's heartbeats (kairos.messaging.heartbeat), not against the broker's offsets.

A broker that restarts with empty storage (the dev broker) leaves a running
aiokafka consumer stalled or committing into the void; a periodic check notices
(topic gone, committed offsets forgotten, data available but none arriving) and
rebuilds the Kafka client.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import psycopg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import CommitFailedError, KafkaError, RebalanceInProgressError
from psycopg import errors as psycopg_errors
from psycopg_pool import ConnectionPool
from pydantic import ValidationError

from kairos.events import (
    REGISTRIES,
    REGISTRY,
    Envelope,
    EventRegistry,
    UnknownEventType,
    dead_letter_topic,
)
from kairos.events.booking import Payload
from kairos.messaging.handlers import Handler
from kairos.messaging.heartbeat import (
    HEARTBEAT_PARTITIONS,
    Freshness,
    Heartbeat,
    HeartbeatTracker,
    heartbeat_topic,
)
from kairos.messaging.kafka import (
    DLQ_CONSUMER_HEADER,
    DLQ_ERROR_HEADER,
    DLQ_OFFSET_HEADER,
    DLQ_PARTITION_HEADER,
    DLQ_REASON_HEADER,
    DLQ_TOPIC_HEADER,
    PREVIOUS_HEADER,
    TOPIC_PARTITIONS,
    GroupTimeouts,
    close_quietly,
    create_missing_topics,
    ensure_topics,
    make_admin,
    make_consumer,
    make_producer,
)
from kairos.messaging.metrics import (
    CONSUMED,
    CONSUMER_LAG_EVENTS,
    CONSUMER_LAG_SECONDS,
    CONSUMER_RECOVERIES,
    DATABASE_RETRIES,
    DEAD_LETTERED,
    HANDLER_SECONDS,
)
from kairos.messaging.positions import (
    AlreadyApplied,
    applied_position,
    create_positions_table,
    record,
)
from kairos.settings import TopicManagement

log = logging.getLogger("kairos.messaging.consumer")

T = TypeVar("T")

_POLL_MS = 250
_MAX_ERROR_TEXT = 2000
_HANDLER_FAILED = "handler-failed"

#: What the database raises when it is unwell rather than when the event is bad:
#: unreachable, restarting, terminated connections, pool timeouts (all
#: OperationalError), and transactions that lost a serialization race or deadlock.
TRANSIENT_DATABASE_ERRORS: tuple[type[Exception], ...] = (
    psycopg.OperationalError,
    psycopg_errors.TransactionRollback,
)


class HandlerFailed(RuntimeError):
    """A handler raised for a reason that is not transient; its transaction rolled back.

    The consumer retries the event a few times, then parks it (see the module docstring).
    """

    def __init__(self, message: str, cause: Exception) -> None:
        super().__init__(message)
        self.cause = cause


class _BrokerTrouble(Exception):
    """The broker lost our topic or group, or the client stalled: rebuild the client."""


class _Stopped(Exception):
    pass


class Outcome(enum.Enum):
    APPLIED = "applied"
    UNHANDLED = "unhandled"  # no handler for its type: recorded and skipped
    REDELIVERED = "redelivered"
    DEAD_LETTERED = "dead_lettered"
    GAP = "gap"
    FRESH = "fresh"  # not applied yet (internal)


class EventConsumer:
    """Consumes integration events from `topics` as consumer group `group_id`.

    `handlers` maps payload classes to handlers, looked up along the payload's
    class hierarchy; an event with no handler is recorded as applied. `database`
    is a psycopg pool or a connection string (then the consumer owns a small pool).
    `name` keys the consumer's positions and labels its metrics (default: group id).
    A handler that raises a non-transient error is tried `handler_attempts` times
    before its event is parked; transient failures wait `retry_delay`, doubling up to
    `max_retry_delay`, and are retried until they pass. With no heartbeat from a
    topic's relay for `heartbeat_timeout` seconds, the lag is unknown.
    `topic_management` (KAFKA_TOPIC_MANAGEMENT): "dev" creates missing topics, "external"
    creates none and raises TopicMismatch when a topic's partitions differ.
    Each message is decoded by `registry`, or by default by its topic's registry
    (`kairos.events.REGISTRIES`; booking's for a topic it does not name).
    """

    def __init__(
        self,
        bootstrap: str,
        topics: str | Sequence[str],
        group_id: str,
        handlers: Mapping[type[Payload], Handler],
        database: ConnectionPool | str,
        name: str | None = None,
        *,
        registry: EventRegistry | None = None,
        partitions: int = TOPIC_PARTITIONS,
        topic_management: TopicManagement = "dev",
        timeouts: GroupTimeouts | None = None,
        check_interval: float = 2.0,
        stall_timeout: float = 15.0,
        commit_timeout: float = 5.0,
        retry_delay: float = 1.0,
        max_retry_delay: float = 30.0,
        handler_attempts: int = 3,
        heartbeat_timeout: float = 5.0,
    ) -> None:
        self.topics = (topics,) if isinstance(topics, str) else tuple(topics)
        self.group_id = group_id
        self.name = name or group_id
        self._bootstrap = bootstrap
        self._handlers = dict(handlers)
        self._resolved: dict[type[Payload], Handler | None] = {}
        self._database = database
        self._pool: ConnectionPool | None = None
        self._registry = registry
        self._partitions = partitions
        self._topic_management = topic_management
        self._timeouts = timeouts or GroupTimeouts()
        self._check_interval = check_interval
        self._stall_timeout = stall_timeout
        self._commit_timeout = commit_timeout
        self._retry_delay = retry_delay
        self._max_retry_delay = max_retry_delay
        self._handler_attempts = max(1, handler_attempts)
        self._stopping = asyncio.Event()
        # Partitions re-read from the beginning since their last applied event.
        self._rewound: set[TopicPartition] = set()
        self._heartbeats = HeartbeatTracker(heartbeat_timeout)
        self.freshness = Freshness(None, None)
        self.lag_events: int | None = None  # None while unknown: no recent heartbeat
        self.lag_seconds: float | None = None  # staleness; None until first known current
        self._caught_up = asyncio.Event()

    @property
    def caught_up(self) -> bool:
        """True once this consumer has read to the end of all its partitions (it stays
        True afterwards: a fresh instance is ready after its first catch-up)."""
        return self._caught_up.is_set()

    async def wait_caught_up(self) -> None:
        await self._caught_up.wait()

    def stop(self) -> None:
        """Finish the current message, commit, leave the group; `run()` then returns."""
        self._stopping.set()

    async def run(self) -> None:
        """Consume until `stop()`, through broker and database outages and poison events."""
        pool = await self._open_pool()
        try:
            await self._in_thread(self._create_tables)
            while not self._stopping.is_set():
                try:
                    await self._session()
                except (_BrokerTrouble, KafkaError, OSError, TimeoutError) as trouble:
                    if self._stopping.is_set():
                        break
                    log.warning("%s: %s: reconnecting to Kafka", self.name, _describe(trouble))
                    CONSUMER_RECOVERIES.labels(self.name).inc()
                    self._rewound.clear()
                    await self._sleep(self._retry_delay)
        except _Stopped:
            pass
        finally:
            if isinstance(self._database, str):
                await asyncio.to_thread(pool.close)

    async def _open_pool(self) -> ConnectionPool:
        if isinstance(self._database, ConnectionPool):
            self._pool = self._database
        else:
            pool = ConnectionPool(
                self._database, min_size=1, max_size=2, open=False, name=f"consumer-{self.name}"
            )
            await asyncio.to_thread(pool.open, True, 30.0)
            self._pool = pool
        return self._pool

    def _create_tables(self) -> None:
        with self._connection() as conn:
            create_positions_table(conn)

    def _connection(self) -> Any:
        assert self._pool is not None
        return self._pool.connection()

    async def _session(self) -> None:
        await ensure_topics(
            self._bootstrap,
            self.topics,
            partitions=self._partitions,
            management=self._topic_management,
        )
        consumer = make_consumer(
            self._bootstrap,
            *self.topics,
            group_id=self.group_id,
            client_id=self.name,
            timeouts=self._timeouts,
        )
        producer = make_producer(self._bootstrap, client_id=f"{self.name}-dlq")
        admin = make_admin(self._bootstrap, client_id=f"{self.name}-admin")
        beats = make_consumer(self._bootstrap, group_id=None, client_id=f"{self.name}-heartbeats")
        try:
            await consumer.start()
            await producer.start()
            await admin.start()
            await beats.start()
            await self._follow_heartbeats(admin, beats)
            committed: dict[TopicPartition, int] = {}
            last_progress = time.monotonic()
            next_check = last_progress + self._check_interval
            while not self._stopping.is_set():
                batches = await consumer.getmany(timeout_ms=_POLL_MS)
                if batches:
                    await self._process(consumer, producer, batches, committed)
                    last_progress = time.monotonic()
                await self._hear(beats)
                await self._measure_lag(consumer)
                if time.monotonic() >= next_check:
                    if await asyncio.wait_for(
                        self._check(consumer, admin, committed, last_progress),
                        self._commit_timeout,
                    ):
                        last_progress = time.monotonic()
                    next_check = time.monotonic() + self._check_interval
        finally:
            await close_quietly(consumer.stop(), producer.stop(), admin.close(), beats.stop())

    async def _process(
        self,
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        batches: dict[TopicPartition, list[Any]],
        committed: dict[TopicPartition, int],
    ) -> None:
        offsets: dict[TopicPartition, int] = {}
        try:
            for tp, messages in batches.items():
                for message in messages:
                    if self._stopping.is_set():
                        raise _Stopped
                    if not await self._handle(consumer, producer, tp, message):
                        offsets.pop(tp, None)
                        break
                    offsets[tp] = message.offset + 1
        except _Stopped:
            pass
        if offsets:
            await self._commit(consumer, offsets, committed)

    async def _follow_heartbeats(self, admin: AIOKafkaAdminClient, beats: AIOKafkaConsumer) -> None:
        """Read each topic's heartbeats, starting with the latest one sent."""
        await create_missing_topics(
            admin, {heartbeat_topic(topic): HEARTBEAT_PARTITIONS for topic in self.topics}
        )
        partitions = [TopicPartition(heartbeat_topic(topic), 0) for topic in self.topics]
        beats.assign(partitions)
        ends = await beats.end_offsets(partitions)
        for tp in partitions:
            beats.seek(tp, max(0, ends[tp] - 1))

    async def _hear(self, beats: AIOKafkaConsumer) -> None:
        for messages in (await beats.getmany(timeout_ms=0)).values():
            for message in messages:
                try:
                    beat = Heartbeat.model_validate_json(message.value or b"")
                except ValidationError:
                    log.debug("%s: ignored a malformed heartbeat", self.name)
                    continue
                self._heartbeats.heard(beat, time.monotonic())

    async def _measure_lag(self, consumer: AIOKafkaConsumer) -> None:
        assigned = consumer.assignment()
        positions = {tp: await consumer.position(tp) for tp in assigned}
        # Read to the end of what the broker holds, once: the first catch-up.
        if assigned and all(_read_to(consumer.highwater(tp), positions[tp]) for tp in assigned):
            self._caught_up.set()
        self.freshness = self._heartbeats.freshness(self.topics, positions, time.monotonic())
        self.lag_events = self.freshness.lag_events
        self.lag_seconds = self.freshness.staleness(time.time())
        CONSUMER_LAG_EVENTS.labels(self.name).set(_or_nan(self.lag_events))
        CONSUMER_LAG_SECONDS.labels(self.name).set(_or_nan(self.lag_seconds))

    async def _commit(
        self,
        consumer: AIOKafkaConsumer,
        offsets: dict[TopicPartition, int],
        committed: dict[TopicPartition, int],
    ) -> None:
        try:
            await asyncio.wait_for(consumer.commit(offsets), self._commit_timeout)
        except (CommitFailedError, RebalanceInProgressError) as exc:
            # The partitions moved to another member, which redelivers; positions dedupe.
            log.info("%s: commit skipped during a rebalance: %s", self.name, exc)
            return
        except TimeoutError:
            raise _BrokerTrouble("offset commit did not complete") from None
        committed.update(offsets)

    async def _check(
        self,
        consumer: AIOKafkaConsumer,
        admin: AIOKafkaAdminClient,
        committed: dict[TopicPartition, int],
        last_progress: float,
    ) -> bool:
        """Raise _BrokerTrouble if the broker lost our topic or group, or we stalled.

        Returns True when nothing is waiting to be read (so we are not stalled).
        """
        topics = set(await admin.list_topics())
        missing = [topic for topic in self.topics if topic not in topics]
        if missing:
            raise _BrokerTrouble(f"topic {', '.join(missing)} is gone")
        assigned = set(consumer.assignment())
        for tp in sorted(assigned & committed.keys()):
            if await consumer.committed(tp) is None:
                raise _BrokerTrouble(f"the broker forgot the committed offsets of {tp}")
        if not assigned or time.monotonic() - last_progress < self._stall_timeout:
            return False
        ends = await consumer.end_offsets(list(assigned))
        for tp in assigned:
            try:
                position = await asyncio.wait_for(consumer.position(tp), 1.0)
            except TimeoutError:
                continue
            if ends.get(tp, 0) > position:
                raise _BrokerTrouble(f"{tp} has messages from {position} but none arrive")
        return True

    async def _handle(
        self,
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        tp: TopicPartition,
        message: Any,
    ) -> bool:
        """Apply, skip or dead-letter one message; False if the partition was rewound."""
        envelope, payload, rejection = self._decode(message.value, message.topic)
        if envelope is None:
            assert rejection is not None
            await self._dead_letter(producer, message, *rejection)
            CONSUMED.labels(self.name, Outcome.DEAD_LETTERED.value).inc()
            return True
        previous = _previous(message.headers)
        if payload is not None:
            outcome = await self._apply_or_park(producer, message, envelope, payload, previous)
        else:
            assert rejection is not None
            outcome = await self._in_thread(
                self._apply, tp.partition, envelope, None, previous, True
            )
            if outcome is Outcome.FRESH:
                await self._dead_letter(producer, message, *rejection)
                outcome = await self._in_thread(
                    self._apply, tp.partition, envelope, None, previous, False
                )
        CONSUMED.labels(self.name, outcome.value).inc()
        if outcome is Outcome.GAP:
            return await self._on_gap(consumer, tp, envelope, previous)
        if outcome is not Outcome.REDELIVERED:
            self._rewound.discard(tp)
        return True

    async def _apply_or_park(
        self,
        producer: AIOKafkaProducer,
        message: Any,
        envelope: Envelope,
        payload: Payload,
        previous: int | None,
    ) -> Outcome:
        """Apply the event, retrying a failing handler; park it once retries are spent."""
        attempt = 1
        while True:
            try:
                return await self._in_thread(
                    self._apply, message.partition, envelope, payload, previous
                )
            except HandlerFailed as failed:
                if attempt >= self._handler_attempts:
                    failure = failed
                    break
            await self._sleep(self._backoff(attempt))
            if self._stopping.is_set():
                raise _Stopped
            attempt += 1
        await self._dead_letter(
            producer,
            message,
            _HANDLER_FAILED,
            str(failure),
            summary=(
                f"{envelope.type} {envelope.producer}#{envelope.notification_id} failed "
                f"{attempt} times with {_error_kind(failure.cause)}"
            ),
        )
        return await self._in_thread(
            self._apply, message.partition, envelope, None, previous, False
        )

    def _decode(
        self, value: bytes | None, topic: str
    ) -> tuple[Envelope | None, Payload | None, tuple[str, str] | None]:
        if value is None:
            return None, None, ("undecodable", "the message has no value")
        try:
            raw = json.loads(value)
        except ValueError as exc:
            return None, None, ("undecodable", str(exc))
        try:
            envelope = Envelope.model_validate(raw)
        except ValidationError as exc:
            return None, None, ("invalid-envelope", str(exc))
        try:
            registry = (
                self._registry if self._registry is not None else REGISTRIES.get(topic, REGISTRY)
            )
            return envelope, registry.decode(envelope), None
        except UnknownEventType as exc:
            return envelope, None, ("unknown-type", str(exc))
        except ValidationError as exc:
            return envelope, None, ("invalid-payload", str(exc))

    def _apply(
        self,
        partition: int,
        envelope: Envelope,
        payload: Payload | None,
        previous: int | None,
        dry_run: bool = False,
    ) -> Outcome:
        """In one transaction: skip a redelivery or a gap, else handle and record.

        With no payload (a dead-lettered event) only the position is recorded;
        `dry_run` only says whether the event is FRESH.
        """
        handler = self._handler_for(type(payload)) if payload is not None else None
        try:
            with self._connection() as conn, conn.transaction():
                stored = applied_position(
                    conn, self.name, envelope.producer, partition, lock=not dry_run
                )
                if envelope.notification_id <= stored:
                    return Outcome.REDELIVERED
                if previous is not None and previous > stored:
                    return Outcome.GAP
                if dry_run:
                    return Outcome.FRESH
                started = time.perf_counter()
                if handler is not None:
                    self._call(handler, conn, envelope, payload, partition)
                record(conn, self.name, envelope, partition)
                if handler is not None:
                    HANDLER_SECONDS.labels(self.name).observe(time.perf_counter() - started)
        except AlreadyApplied:
            return Outcome.REDELIVERED
        if payload is None:
            return Outcome.DEAD_LETTERED
        return Outcome.APPLIED if handler is not None else Outcome.UNHANDLED

    def _call(
        self,
        handler: Handler,
        conn: psycopg.Connection[Any],
        envelope: Envelope,
        payload: Any,
        partition: int,
    ) -> None:
        try:
            handler(conn, envelope, payload)
        except TRANSIENT_DATABASE_ERRORS:
            raise  # the database is unwell, not the event: retried, never parked
        except Exception as exc:
            raise HandlerFailed(
                f"{getattr(handler, '__name__', handler)} failed on "
                f"{envelope.type} {envelope.producer}#{envelope.notification_id} "
                f"(partition {partition}): {type(exc).__name__}: {exc}",
                exc,
            ) from exc

    def _handler_for(self, payload_type: type[Payload]) -> Handler | None:
        if payload_type not in self._resolved:
            self._resolved[payload_type] = next(
                (self._handlers[c] for c in payload_type.__mro__ if c in self._handlers), None
            )
        return self._resolved[payload_type]

    async def _on_gap(
        self,
        consumer: AIOKafkaConsumer,
        tp: TopicPartition,
        envelope: Envelope,
        previous: int | None,
    ) -> bool:
        if tp in self._rewound:
            return True  # already re-read once: the relay republishes what is missing
        self._rewound.add(tp)
        log.warning(
            "%s: %s#%d on %s follows #%s, which was never applied: re-reading the partition",
            self.name,
            envelope.producer,
            envelope.notification_id,
            tp,
            previous,
        )
        await consumer.seek_to_beginning(tp)
        return False

    async def _dead_letter(
        self,
        producer: AIOKafkaProducer,
        message: Any,
        reason: str,
        error: str,
        *,
        summary: str | None = None,
    ) -> None:
        """Park `message` on the dead-letter topic. `error` goes into its headers; the
        log line says `summary` (or the error's first line), which must hold no
        personal data: a handler's error may quote the values it choked on."""
        headers = [
            *(message.headers or ()),
            (DLQ_REASON_HEADER, reason.encode()),
            (DLQ_ERROR_HEADER, error[:_MAX_ERROR_TEXT].encode()),
            (DLQ_TOPIC_HEADER, message.topic.encode()),
            (DLQ_PARTITION_HEADER, str(message.partition).encode()),
            (DLQ_OFFSET_HEADER, str(message.offset).encode()),
            (DLQ_CONSUMER_HEADER, self.name.encode()),
        ]
        await producer.send_and_wait(
            dead_letter_topic(message.topic), value=message.value, key=message.key, headers=headers
        )
        DEAD_LETTERED.labels(self.name, reason).inc()
        log.warning(
            "%s: dead-lettered %s:%d@%d (%s): %s",
            self.name,
            message.topic,
            message.partition,
            message.offset,
            reason,
            summary if summary is not None else error.splitlines()[0],
        )

    async def _in_thread(self, function: Callable[..., T], *args: Any) -> T:
        """Run database work in a thread; wait out a database outage, with backoff."""
        attempt = 0
        while True:
            try:
                return await asyncio.to_thread(function, *args)
            except TRANSIENT_DATABASE_ERRORS as exc:
                attempt += 1
                DATABASE_RETRIES.labels(self.name).inc()
                log.warning(
                    "%s: database unavailable (%s); retry %d", self.name, _error_kind(exc), attempt
                )
                await self._sleep(self._backoff(attempt))
                if self._stopping.is_set():
                    raise _Stopped from exc

    def _backoff(self, attempt: int) -> float:
        """Exponential, capped, with jitter so that a fleet does not retry in step."""
        ceiling = min(self._max_retry_delay, self._retry_delay * 2.0 ** (attempt - 1))
        return ceiling * random.uniform(0.5, 1.0)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)


def _previous(headers: Sequence[tuple[str, bytes]] | None) -> int | None:
    for key, value in headers or ():
        if key == PREVIOUS_HEADER:
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _read_to(highwater: int | None, position: int) -> bool:
    return highwater is not None and highwater <= position


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else value


def _error_kind(exc: BaseException) -> str:
    """An error's class and SQLSTATE: enough to triage, and never the data it quotes."""
    sqlstate = getattr(exc, "sqlstate", None)
    return f"{type(exc).__name__} (SQLSTATE {sqlstate})" if sqlstate else type(exc).__name__


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
