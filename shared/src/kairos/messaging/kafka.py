"""aiokafka clients with the settings every Kairos process uses, and topic management.

Producers are neither idempotent nor transactional: the dev/test broker (tansu)
rejects InitProducerId v0, and nothing here needs them. Ordering comes from
publishing one partition's events in log order and waiting for the acks;
deduplication comes from the notification ids in the envelopes.

Topics are created explicitly, with a fixed partition count (KAFKA_PARTITIONS),
because the partition count decides which partition a specialist's events live
in, and consumers track their positions per partition. A broker may auto-create
a topic with its own default count when a client merely asks for its metadata,
so the helpers here list topics (which creates nothing) before describing them.
Only on the dev broker (KAFKA_TOPIC_MANAGEMENT=dev) does anything here create a
topic; elsewhere the topics belong to the platform and are only checked.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from typing import Any, cast

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import for_code
from aiokafka.partitioner import murmur2

from kairos.events import dead_letter_topic
from kairos.settings import DEFAULT_PARTITIONS, ServiceSettings, TopicManagement

log = logging.getLogger(__name__)

#: Partitions of every event topic when a caller does not say: KAFKA_PARTITIONS's
#: default. Processes read the setting (TopicSettings.kafka_partitions).
TOPIC_PARTITIONS = DEFAULT_PARTITIONS
DEAD_LETTER_PARTITIONS = 1

#: Header the relay sets on every message: the notification id of the event
#: published before it on the same partition ("0" for the first one).
PREVIOUS_HEADER = "kairos-previous"

#: Headers a dead-lettered message carries besides its original ones.
DLQ_REASON_HEADER = "dlq-reason"
DLQ_ERROR_HEADER = "dlq-error"
DLQ_TOPIC_HEADER = "dlq-topic"
DLQ_PARTITION_HEADER = "dlq-partition"
DLQ_OFFSET_HEADER = "dlq-offset"
DLQ_CONSUMER_HEADER = "dlq-consumer"

_TOPIC_ALREADY_EXISTS = 36
_UNKNOWN_TOPIC_OR_PARTITION = 3


class TopicMismatch(Exception):
    """A topic is not what the settings say, and this process may not change it."""


def partition_mismatch(topic: str, count: int, partitions: int) -> TopicMismatch:
    return TopicMismatch(
        f"topic {topic} has {count} partitions, but KAFKA_PARTITIONS is {partitions}."
        " With KAFKA_TOPIC_MANAGEMENT=external the topic belongs to the platform and is"
        " never deleted or recreated here: set KAFKA_PARTITIONS to the topic's count (the"
        " same for every relay and consumer), or change the topic through its owner"
        " (its KafkaTopic resource)"
    )


@dataclass(frozen=True)
class GroupTimeouts:
    """Consumer timeouts: short group timeouts make joins take about a second, not 5-18 s;
    a short fetch wait makes an event arrive in milliseconds from a broker (the dev broker)
    that answers a waiting fetch only when the wait is over, not when data arrives."""

    session_timeout_ms: int = 6000
    heartbeat_interval_ms: int = 500
    rebalance_timeout_ms: int = 3000
    fetch_max_wait_ms: int = 20

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> GroupTimeouts:
        return cls(
            session_timeout_ms=settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
            rebalance_timeout_ms=settings.kafka_rebalance_timeout_ms,
            fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        )


def make_producer(
    bootstrap: str, *, client_id: str = "kairos", **overrides: Any
) -> AIOKafkaProducer:
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "client_id": client_id,
        "acks": "all",
        "enable_idempotence": False,
        "linger_ms": 5,
        "request_timeout_ms": 10_000,
        "retry_backoff_ms": 100,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


def make_consumer(
    bootstrap: str,
    *topics: str,
    group_id: str | None,
    client_id: str = "kairos",
    timeouts: GroupTimeouts | None = None,
    **overrides: Any,
) -> AIOKafkaConsumer:
    """A consumer that commits only when told to, and starts a new group at the beginning."""
    timeouts = timeouts or GroupTimeouts()
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "group_id": group_id,
        "client_id": client_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": timeouts.session_timeout_ms,
        "heartbeat_interval_ms": timeouts.heartbeat_interval_ms,
        "rebalance_timeout_ms": timeouts.rebalance_timeout_ms,
        "fetch_max_wait_ms": timeouts.fetch_max_wait_ms,
        "request_timeout_ms": 10_000,
        "retry_backoff_ms": 100,
    }
    options.update(overrides)
    return AIOKafkaConsumer(*topics, **options)


def make_admin(bootstrap: str, *, client_id: str = "kairos-admin") -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, client_id=client_id, request_timeout_ms=10_000
    )


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (Java and aiokafka alike) picks for `key`."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


def specialist_partition(specialist_id: object, partitions: int = TOPIC_PARTITIONS) -> int:
    """The partition of a specialist's events: they are keyed by the specialist id."""
    return partition_for(str(specialist_id).encode(), partitions)


async def topic_partitions(admin: AIOKafkaAdminClient, topic: str) -> int | None:
    """How many partitions `topic` has, or None if it does not exist. Creates nothing."""
    if topic not in await admin.list_topics():
        return None
    [description] = await admin.describe_topics([topic])
    if description["error_code"] == _UNKNOWN_TOPIC_OR_PARTITION:
        return None
    _raise_for(description["error_code"], f"describing {topic}")
    return len(description["partitions"])


async def create_missing_topics(
    admin: AIOKafkaAdminClient, partitions_by_topic: dict[str, int]
) -> list[str]:
    """Create each topic that does not exist yet; returns the ones this call created."""
    existing = set(await admin.list_topics())
    wanted = [
        NewTopic(name, count, 1)
        for name, count in partitions_by_topic.items()
        if name not in existing
    ]
    if not wanted:
        return []
    response = await admin.create_topics(wanted)
    created = []
    for name, code, *_ in response.topic_errors:
        if code != _TOPIC_ALREADY_EXISTS:
            _raise_for(code, f"creating {name}")
            created.append(cast(str, name))
    return created


async def ensure_topics(
    bootstrap: str,
    topics: Iterable[str],
    *,
    partitions: int = TOPIC_PARTITIONS,
    dead_letter_partitions: int = DEAD_LETTER_PARTITIONS,
    management: TopicManagement = "dev",
    missing_ok: bool = True,
) -> list[str]:
    """On the dev broker, create each topic and its `.dlq` unless they exist; elsewhere,
    check that those that exist have `partitions` (TopicMismatch if not), and that each
    exists unless `missing_ok` (a consumer waits for one; a producer would have the broker
    create it with its own default count). Never deletes.

    Returns the topics this call created. On the dev broker a topic that exists with
    another partition count is left alone (the relay that owns it recreates it).
    """
    admin = make_admin(bootstrap)
    await admin.start()
    try:
        if management == "external":
            for topic in topics:
                count = await topic_partitions(admin, topic)
                if count is None and not missing_ok:
                    raise TopicMismatch(
                        f"topic {topic} does not exist; the platform owns the topics "
                        "(KAFKA_TOPIC_MANAGEMENT=external): create it first"
                    )
                if count is not None and count != partitions:
                    raise partition_mismatch(topic, count, partitions)
            return []
        wanted: dict[str, int] = {}
        for topic in topics:
            wanted[topic] = partitions
            wanted[dead_letter_topic(topic)] = dead_letter_partitions
        return await create_missing_topics(admin, wanted)
    finally:
        await admin.close()


async def recreate_topic(
    admin: AIOKafkaAdminClient, topic: str, partitions: int, *, timeout: float = 30.0
) -> None:
    """Delete `topic` if it exists and create it empty with `partitions` partitions.

    Kafka deletes asynchronously, and a client may auto-create the topic in
    between with the broker's default count: this retries until the topic
    exists with the right count.
    """
    deadline = time.monotonic() + timeout
    if await topic_partitions(admin, topic) is not None:
        await _delete_topic(admin, topic, deadline)
    while True:
        await create_missing_topics(admin, {topic: partitions})
        count = await topic_partitions(admin, topic)
        if count == partitions:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"could not recreate topic {topic} with {partitions} partitions")
        if count is not None:
            await _delete_topic(admin, topic, deadline)
        await asyncio.sleep(0.2)


async def _delete_topic(admin: AIOKafkaAdminClient, topic: str, deadline: float) -> None:
    response = await admin.delete_topics([topic])
    for name, code, *_ in response.topic_error_codes:
        if code != _UNKNOWN_TOPIC_OR_PARTITION:
            _raise_for(code, f"deleting {name}")
    while topic in await admin.list_topics():
        if time.monotonic() > deadline:
            raise TimeoutError(f"topic {topic} is still there after deleting it")
        await asyncio.sleep(0.2)


def _raise_for(code: int, doing: str) -> None:
    if code != 0:
        raise for_code(code)(f"error {code} {doing}")


async def close_quietly(*closing: Awaitable[Any]) -> None:
    """Await each client's close, at most 5 s each; a broker that is gone can't fail shutdown.

    Closing an aiokafka consumer cancels its fetch tasks, and one cancelled while it
    waits to retry a failed fetch raises CancelledError out of close(). That is not
    a cancellation of the caller, so it is swallowed too, unless the caller really
    is being cancelled.
    """
    for step in closing:
        try:
            await asyncio.wait_for(step, 5.0)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            log.debug("closing a Kafka client was interrupted by its own cancelled task")
        except Exception as exc:
            log.debug("closing a Kafka client failed: %s", exc)
