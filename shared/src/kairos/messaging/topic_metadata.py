"""A topic's identity: its topic id and partition count, from a Metadata v10 request.

A topic id (Kafka 2.8+, and the dev broker) is a UUID the broker gives a topic when it
creates it: a topic deleted and created again under the same name, or re-created by a
broker that forgot everything, has a new one. Comparing ids tells "the topic this relay
wrote to" from "another topic of the same name" exactly, where offsets can only hint.

aiokafka speaks Metadata up to v5, which has no topic ids, so the v10 request and
response are declared here. A broker without v10 gets the ordinary request: no id.
"""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO
from typing import Any
from uuid import UUID

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import IncompatibleBrokerVersion, for_code
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    AbstractType,
    Boolean,
    CompactArray,
    CompactString,
    Int16,
    Int32,
    Schema,
    TaggedFields,
)

from kairos.messaging.kafka import topic_partitions

_UNKNOWN_TOPIC_OR_PARTITION = 3
_NO_ID = UUID(int=0)


@dataclass(frozen=True)
class TopicInfo:
    partitions: int
    topic_id: UUID | None  # None: the broker has no topic ids


# aiokafka has no type hints: its protocol classes are Any to mypy, hence the ignores.
class _Uuid(AbstractType[UUID]):  # type: ignore[misc]
    @classmethod
    def encode(cls, value: UUID) -> bytes:
        return value.bytes

    @classmethod
    def decode(cls, data: BytesIO) -> UUID:
        return UUID(bytes=data.read(16))


_STRING = CompactString("utf-8")


class _MetadataResponseV10(Response):  # type: ignore[misc]
    API_KEY = 3
    API_VERSION = 10
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "brokers",
            CompactArray(
                ("node_id", Int32),
                ("host", _STRING),
                ("port", Int32),
                ("rack", _STRING),
                ("tags", TaggedFields),
            ),
        ),
        ("cluster_id", _STRING),
        ("controller_id", Int32),
        (
            "topics",
            CompactArray(
                ("error_code", Int16),
                ("name", _STRING),
                ("topic_id", _Uuid),
                ("is_internal", Boolean),
                (
                    "partitions",
                    CompactArray(
                        ("error_code", Int16),
                        ("partition_index", Int32),
                        ("leader_id", Int32),
                        ("leader_epoch", Int32),
                        ("replica_nodes", CompactArray(Int32)),
                        ("isr_nodes", CompactArray(Int32)),
                        ("offline_replicas", CompactArray(Int32)),
                        ("tags", TaggedFields),
                    ),
                ),
                ("topic_authorized_operations", Int32),
                ("tags", TaggedFields),
            ),
        ),
        ("cluster_authorized_operations", Int32),
        ("tags", TaggedFields),
    )


class _MetadataRequestV10(RequestStruct):  # type: ignore[misc]
    FLEXIBLE_VERSION = True
    API_KEY = 3
    API_VERSION = 10
    RESPONSE_TYPE = _MetadataResponseV10
    SCHEMA = Schema(
        ("topics", CompactArray(("topic_id", _Uuid), ("name", _STRING), ("tags", TaggedFields))),
        ("allow_auto_topic_creation", Boolean),
        ("include_cluster_authorized_operations", Boolean),
        ("include_topic_authorized_operations", Boolean),
        ("tags", TaggedFields),
    )


class _TopicMetadataRequest(Request[_MetadataRequestV10]):  # type: ignore[misc]
    API_KEY = 3

    def __init__(self, topic: str) -> None:
        self._topic = topic

    def build(self, request_struct_class: type[_MetadataRequestV10]) -> _MetadataRequestV10:
        # Never auto-create: asking about a topic must not make one with the broker's count.
        return request_struct_class([(_NO_ID, self._topic, {})], False, False, False, {})


async def describe_topic(admin: AIOKafkaAdminClient, topic: str) -> TopicInfo | None:
    """`topic`'s partition count and id, or None if it does not exist. Creates nothing."""
    try:
        # aiokafka has no public way to send a request it does not declare itself.
        response: Any = await admin._send_request(_TopicMetadataRequest(topic))
    except (IncompatibleBrokerVersion, NotImplementedError):
        return await _without_id(admin, topic)
    [(error_code, _name, topic_id, _internal, partitions, *_)] = response.topics
    if error_code == _UNKNOWN_TOPIC_OR_PARTITION:
        return None
    if error_code != 0:
        raise for_code(error_code)(f"error {error_code} describing {topic}")
    return TopicInfo(len(partitions), None if topic_id == _NO_ID else topic_id)


async def _without_id(admin: AIOKafkaAdminClient, topic: str) -> TopicInfo | None:
    count = await topic_partitions(admin, topic)
    return None if count is None else TopicInfo(count, None)
