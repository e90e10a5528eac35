"""Version 1 payloads of the booking service's integration events (`booking.events.v1`)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from kairos.text import Storable

# The booking API validated the address in full before it entered the event store;
# consumers only need to reject garbage. email-validator's IDNA checks cost about
# 100 µs an event, which was most of a replay's time.
Email = Annotated[
    str,
    Field(
        max_length=320, pattern=r"^[^@\s\x00]+@[^@\s\x00]+$", json_schema_extra={"format": "email"}
    ),
]


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Window(Payload):
    start: Storable  # "HH:MM", local wall time
    end: Storable  # "HH:MM" or "24:00"


class WeeklyWindow(Window):
    day: int  # 0 = Monday


class Question(Payload):
    key: Storable
    label: Storable
    type: Literal["text", "textarea", "select"]
    required: bool
    options: list[Storable] | None = None


class Client(Payload):
    name: Storable
    email: Email
    timezone: Storable
    phone: Storable | None = None


class SpecialistRegistered(Payload):
    specialist_id: UUID
    name: Storable
    email: Email
    timezone: Storable
    specialty: Storable | None = None
    bio: Storable | None = None


class ScheduleSet(Payload):
    specialist_id: UUID
    timezone: Storable
    weekly: list[WeeklyWindow]


class OverrideSet(Payload):
    specialist_id: UUID
    date: date
    blocked: bool
    windows: list[Window]


class OverrideCleared(Payload):
    specialist_id: UUID
    date: date


class ServiceDefinition(Payload):
    service_id: UUID
    specialist_id: UUID
    name: Storable
    duration_minutes: int
    slot_interval_minutes: int | None
    buffer_before_minutes: int
    buffer_after_minutes: int
    minimum_notice_minutes: int
    max_advance_days: int
    max_per_day: int | None
    cancellation_hours: int
    requires_approval: bool
    price: Decimal | None
    currency: Storable | None
    questions: list[Question]


class ServiceDefined(ServiceDefinition):
    pass


class ServiceUpdated(ServiceDefinition):
    """Carries the whole definition after the change, so consumers just replace it."""


class BookingTimes(Payload):
    """The booked interval and the interval it keeps busy (padded by the service's buffers)."""

    booking_id: UUID
    starts_at: datetime
    ends_at: datetime
    busy_from: datetime
    busy_until: datetime


class SlotRequested(BookingTimes):
    """A client asked for a slot; BookingConfirmed or BookingPending follows in the same commit."""

    service_id: UUID
    client: Client
    answers: dict[Storable, Storable]
    notes: Storable | None = None


class BookingConfirmed(Payload):
    """The booking holds its time (directly, or approved after BookingPending)."""

    booking_id: UUID


class BookingPending(Payload):
    """The booking awaits the specialist's approval; its time is held meanwhile."""

    booking_id: UUID


class BookingDeclined(Payload):
    booking_id: UUID
    reason: Storable | None = None


class BookingCancelled(Payload):
    booking_id: UUID
    reason: Storable | None = None
    refund_eligible: bool
    cancelled_by: Literal["client", "specialist", "admin"]


class BookingRescheduled(BookingTimes):
    previous_starts_at: datetime
    previous_ends_at: datetime


class BookingStarted(Payload):
    """The consultation began (e.g. both parties joined its video session): in_progress.
    The booking keeps its time; it can no longer be cancelled or rescheduled."""

    booking_id: UUID


class BookingCompleted(Payload):
    booking_id: UUID


class NoShowMarked(Payload):
    booking_id: UUID
    party: Literal["client", "specialist"]


BOOKING_EVENTS: tuple[type[Payload], ...] = (
    SpecialistRegistered,
    ScheduleSet,
    OverrideSet,
    OverrideCleared,
    ServiceDefined,
    ServiceUpdated,
    SlotRequested,
    BookingConfirmed,
    BookingPending,
    BookingDeclined,
    BookingCancelled,
    BookingRescheduled,
    BookingStarted,
    BookingCompleted,
    NoShowMarked,
)
