"""The public event contract: envelope, v1 payload models, registry and JSON Schemas."""

from kairos.events.envelope import Envelope
from kairos.events.registry import REGISTRY, EventRegistry, UnknownEventType, write_schemas

BOOKING_TOPIC = "booking.events.v1"
CALENDAR_TOPIC = "calendar.events.v1"
VIDEO_TOPIC = "video.events.v1"


def dead_letter_topic(topic: str) -> str:
    return f"{topic}.dlq"


__all__ = [
    "BOOKING_TOPIC",
    "CALENDAR_TOPIC",
    "REGISTRY",
    "VIDEO_TOPIC",
    "Envelope",
    "EventRegistry",
    "UnknownEventType",
    "dead_letter_topic",
    "write_schemas",
]
