"""The public event contract: envelope, v1 payload models, registry and JSON Schemas."""

from kairos.events.envelope import Envelope
from kairos.events.registry import (
    CALENDAR_REGISTRY,
    REGISTRY,
    VIDEO_REGISTRY,
    EventRegistry,
    UnknownEventType,
    contract_schemas,
    write_schemas,
)

BOOKING_TOPIC = "booking.events.v1"
CALENDAR_TOPIC = "calendar.events.v1"
VIDEO_TOPIC = "video.events.v1"

#: The registry that decodes each topic's events: pass it to a consumer of that topic.
REGISTRIES: dict[str, EventRegistry] = {
    BOOKING_TOPIC: REGISTRY,
    CALENDAR_TOPIC: CALENDAR_REGISTRY,
    VIDEO_TOPIC: VIDEO_REGISTRY,
}


def dead_letter_topic(topic: str) -> str:
    return f"{topic}.dlq"


__all__ = [
    "BOOKING_TOPIC",
    "CALENDAR_REGISTRY",
    "CALENDAR_TOPIC",
    "REGISTRIES",
    "REGISTRY",
    "VIDEO_REGISTRY",
    "VIDEO_TOPIC",
    "Envelope",
    "EventRegistry",
    "UnknownEventType",
    "contract_schemas",
    "dead_letter_topic",
    "write_schemas",
]
