"""The shape every producer's integration mapper shares (booking's, calendar-sync's): a
table of stored domain event class → payload maker, and the envelope around a payload."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from kairos.events.envelope import Envelope, envelope_of
from kairos.events.payload import Payload
from kairos.events.registry import EventRegistry


class IntegrationMapping:
    """Callable: (domain event, notification id) → Envelope, or None for internal events.
    A subclass fills `payloads` and says whose specialist an event is."""

    producer: str
    namespace: UUID
    registry: EventRegistry

    def __init__(self) -> None:
        self.payloads: dict[type, Callable[[Any], Payload]] = {}

    def __call__(self, event: Any, notification_id: int) -> Envelope | None:
        payload = self.payload(event)
        if payload is None:
            return None
        return envelope_of(
            event,
            notification_id,
            payload,
            producer=self.producer,
            namespace=self.namespace,
            version=self.registry.latest_version(type(payload).__name__),
            specialist_id=self.specialist_of(event),
        )

    def published_topics(self) -> list[str]:
        """The stored-event topics that map to an integration event (internal ones don't)."""
        return [get_topic(kind) for kind in self.payloads]

    def payload(self, event: Any) -> Payload | None:
        to_payload = self.payloads.get(type(event))
        return None if to_payload is None else to_payload(event)

    def specialist_of(self, event: Any) -> UUID:
        raise NotImplementedError
