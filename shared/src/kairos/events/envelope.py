"""The integration-event envelope every Kafka message carries (ARCHITECTURE.md rule 4)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from pydantic import BaseModel, ConfigDict, Field


class Envelope(BaseModel):
    """One integration event on a topic; `data` is validated against `type`/`version`.

    `producer` + `notification_id` identify the event's place in its producer's
    ordered notification log: consumers use them to skip redeliveries.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: UUID = Field(description="Stable id: the same event republished keeps it")
    type: str = Field(description="Event type name, e.g. BookingConfirmed")
    version: int = Field(ge=1, description="Schema version of `data` for this type")
    occurred_at: datetime = Field(description="When the event happened, UTC")
    producer: str = Field(description="Producing service, e.g. booking")
    notification_id: int = Field(ge=1, description="Position in the producer's notification log")
    aggregate_id: UUID
    specialist_id: UUID = Field(
        description="Partitioning key: one specialist's events stay ordered"
    )
    data: dict[str, Any]


def envelope_of(
    event: Any,
    notification_id: int,
    payload: Any,
    *,
    producer: str,
    namespace: UUID,
    version: int,
    specialist_id: UUID,
) -> Envelope:
    """The envelope of a stored domain event (an eventsourcing event: originator id and
    version, timestamp) and its integration payload. The event id is uuid5 of the
    producer's `namespace` and the event's place in its aggregate, so a republished event
    keeps it."""
    return Envelope(
        event_id=uuid5(namespace, f"{event.originator_id}/{event.originator_version}"),
        type=type(payload).__name__,
        version=version,
        occurred_at=event.timestamp,
        producer=producer,
        notification_id=notification_id,
        aggregate_id=event.originator_id,
        specialist_id=specialist_id,
        data=payload.model_dump(mode="json"),
    )
