"""The webhooks API's request and response bodies (API.md, Webhooks)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, Field, field_validator

from kairos.text import SingleLine
from webhooks.consumers import EVENT_TYPES
from webhooks.tables import DeliveryState, SubscriptionState

#: "*" or one booking lifecycle event type (listed in the OpenAPI document).
EventType = Annotated[str, Field(json_schema_extra={"enum": ["*", *EVENT_TYPES]})]


class SubscriptionCreate(BaseModel):
    url: SingleLine = Field(
        max_length=2048, description="Where to POST the events: https, a public address"
    )
    events: list[EventType] = Field(
        min_length=1,
        max_length=len(EVENT_TYPES),
        description='The event types to send, or ["*"] for every booking lifecycle event',
    )
    description: SingleLine | None = Field(default=None, max_length=500)

    @field_validator("events")
    @classmethod
    def _known_and_distinct(cls, events: list[str]) -> list[str]:
        unknown = sorted(set(events) - {"*", *EVENT_TYPES})
        if unknown:
            raise ValueError(f"unknown event types {unknown}; known: {', '.join(EVENT_TYPES)}")
        if "*" in events and len(events) > 1:
            raise ValueError('"*" stands alone: it already names every type')
        if len(set(events)) != len(events):
            raise ValueError("each event type once")
        return events


class SubscriptionPublic(BaseModel):
    id: UUID
    url: str
    events: list[str]
    description: str | None
    state: SubscriptionState = Field(
        description="disabled: its endpoint accepted nothing for too long (see disabled_at)"
    )
    created_at: datetime
    last_success_at: datetime | None
    failing_since: datetime | None = Field(
        description="Its endpoint has failed every attempt since then"
    )
    disabled_at: datetime | None


class SubscriptionCreated(SubscriptionPublic):
    secret: str = Field(
        description="The signing secret (Kairos-Signature), shown this once: store it now"
    )


class SubscriptionList(BaseModel):
    subscriptions: list[SubscriptionPublic]


class DeliveryPublic(BaseModel):
    id: UUID = Field(description="Sent as Kairos-Delivery, the same in every attempt and resend")
    event_id: UUID
    type: str
    booking_id: UUID
    state: DeliveryState = Field(
        description="queued: waits for an earlier delivery of the same booking; pending:"
        " being sent (and retried); delivered; failed: given up, or its endpoint disabled"
    )
    attempts: int
    last_status: int | None = Field(description="The receiver's last HTTP status, if any")
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    finished_at: datetime | None


class DeliveryList(BaseModel):
    deliveries: list[DeliveryPublic]


class Resent(BaseModel):
    id: UUID
    state: Literal["pending"]
