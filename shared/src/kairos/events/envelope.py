"""The integration-event envelope every Kafka message carries (ARCHITECTURE.md rule 4)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

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
