"""The relay's view of its topic: still the one it wrote? clean enough to publish the log into?

See the module docstring of kairos.messaging.relay for the rules; this module applies them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from kairos.messaging.kafka import TopicMismatch, partition_mismatch, recreate_topic
from kairos.messaging.topic_metadata import TopicInfo, describe_topic
from kairos.settings import TopicManagement

#: Recreations in a row before a relay gives up on making its topic empty (and retries later).
_CLEAN_ATTEMPTS = 3


@dataclass(frozen=True)
class Head:
    """The last event published to a partition, and the first offset of its batch there."""

    notification_id: int
    offset: int


@dataclass(frozen=True)
class RelayState:
    position: int = 0
    heads: dict[int, Head] = field(default_factory=dict)
    topic_id: UUID | None = None  # the topic the log is published to; None: not known yet


class TopicMissing(Exception):
    """The platform has not created the topic (yet): the relay waits, it never creates it."""


class TopicNotClean(Exception):
    """The dev broker's topic still held records after being recreated: try again later."""


@dataclass(frozen=True)
class RelayTopic:
    """`name` as relay `relay` publishes to it, with `partitions` partitions."""

    name: str
    relay: str
    partitions: int
    management: TopicManagement

    async def lost(
        self, admin: AIOKafkaAdminClient, reader: AIOKafkaConsumer, state: RelayState
    ) -> tuple[TopicInfo | None, str | None]:
        """The topic, and why it is not the one `state` describes (None: it is)."""
        topic = await describe_topic(admin, self.name)
        if topic is None:
            return None, "the topic does not exist"
        if topic.partitions != self.partitions:
            return topic, f"the topic has {topic.partitions} partitions, not {self.partitions}"
        if state.topic_id is not None and topic.topic_id is not None:
            # Exact: a topic keeps its id for life, and a new topic never gets an old one.
            if topic.topic_id != state.topic_id:
                return topic, f"the topic was created again (id {topic.topic_id}, not ours)"
            return topic, None
        if state.position == 0 and not state.heads:
            # The log goes out from its start: only into a topic that holds nothing.
            held = await self._records(reader)
            return topic, (f"the topic holds {held} records it did not publish" if held else None)
        return topic, await self._truncated(reader, state)

    async def make_clean(
        self, admin: AIOKafkaAdminClient, reader: AIOKafkaConsumer, reason: str
    ) -> TopicInfo:
        """An existing, empty topic of the right shape to republish the log into.

        On the dev broker it is recreated if need be; anywhere else it is only
        checked (TopicMissing: wait for it; TopicMismatch: refuse to go on)."""
        for _ in range(_CLEAN_ATTEMPTS):
            topic = await describe_topic(admin, self.name)
            held = await self._records(reader) if topic is not None else 0
            if topic is not None and topic.partitions == self.partitions and not held:
                return topic
            if self.management == "external":
                raise self._refusal(topic, held, reason)
            await recreate_topic(admin, self.name, self.partitions)
        raise TopicNotClean(f"topic {self.name} is not empty after being recreated")

    def _refusal(self, topic: TopicInfo | None, held: int, reason: str) -> Exception:
        if topic is None:
            return TopicMissing(
                f"relay {self.relay}: topic {self.name} does not exist; with"
                " KAFKA_TOPIC_MANAGEMENT=external its owner (the platform) creates it: waiting"
            )
        if topic.partitions != self.partitions:
            return partition_mismatch(self.name, topic.partitions, self.partitions)
        return TopicMismatch(
            f"relay {self.relay}: {reason}, and topic {self.name} holds {held} records."
            " With KAFKA_TOPIC_MANAGEMENT=external the topic is never deleted or recreated"
            " here, and the log is never published twice into one topic: empty the topic"
            " through its owner, or record where this relay got to (relay_positions)"
        )

    async def _records(self, reader: AIOKafkaConsumer) -> int:
        partitions = [TopicPartition(self.name, p) for p in range(self.partitions)]
        starts = await reader.beginning_offsets(partitions)
        ends = await reader.end_offsets(partitions)
        return sum(ends[tp] - starts[tp] for tp in partitions)

    async def _truncated(self, reader: AIOKafkaConsumer, state: RelayState) -> str | None:
        """For a broker without topic ids: a partition that ends at or below an acked offset."""
        partitions = [TopicPartition(self.name, p) for p in sorted(state.heads)]
        ends = await reader.end_offsets(partitions) if partitions else {}
        for tp in partitions:
            head = state.heads[tp.partition]
            if ends[tp] <= head.offset:
                return (
                    f"partition {tp.partition} ends at offset {ends[tp]}, "
                    f"but offset {head.offset} was acknowledged"
                )
        return None
