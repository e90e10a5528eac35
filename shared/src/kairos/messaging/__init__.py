"""Kafka transport: topic helpers, the consumer runtime and its runner, typed handler
tables, positions, and the outbox relay."""

from kairos.messaging.consumer import EventConsumer, HandlerFailed, Outcome
from kairos.messaging.handlers import Handler, Handlers, TypedHandler
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
from kairos.messaging.runner import ConsumerProcess, ConsumerSpec, build_consumer, run_consumer

__all__ = [
    "PREVIOUS_HEADER",
    "TOPIC_PARTITIONS",
    "AlreadyApplied",
    "ConsumerProcess",
    "ConsumerSpec",
    "EnvelopeMapper",
    "EventConsumer",
    "GroupTimeouts",
    "Handler",
    "HandlerFailed",
    "Handlers",
    "OutboxRelay",
    "Outcome",
    "TypedHandler",
    "already_applied",
    "applied_position",
    "build_consumer",
    "create_positions_table",
    "ensure_topics",
    "make_admin",
    "make_consumer",
    "make_producer",
    "partition_for",
    "record",
    "run_consumer",
    "run_relay",
    "specialist_partition",
    "stable_event_id",
]
