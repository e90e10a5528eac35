"""Kafka transport: topic helpers, the consumer runtime, positions, and the outbox relay."""

from kairos.messaging.consumer import EventConsumer, Handler, HandlerFailed, Outcome
from kairos.messaging.kafka import (
    PREVIOUS_HEADER,
    TOPIC_PARTITIONS,
    GroupTimeouts,
    ensure_topics,
    make_admin,
    make_consumer,
    make_producer,
    partition_for,
    specialist_partition,
)
from kairos.messaging.positions import (
    AlreadyApplied,
    already_applied,
    applied_position,
    create_positions_table,
    record,
)
from kairos.messaging.relay import (
    EnvelopeMapper,
    OutboxRelay,
    run_relay,
    stable_event_id,
)

__all__ = [
    "PREVIOUS_HEADER",
    "TOPIC_PARTITIONS",
    "AlreadyApplied",
    "EnvelopeMapper",
    "EventConsumer",
    "GroupTimeouts",
    "Handler",
    "HandlerFailed",
    "OutboxRelay",
    "Outcome",
    "already_applied",
    "applied_position",
    "create_positions_table",
    "ensure_topics",
    "make_admin",
    "make_consumer",
    "make_producer",
    "partition_for",
    "record",
    "run_relay",
    "specialist_partition",
    "stable_event_id",
]
