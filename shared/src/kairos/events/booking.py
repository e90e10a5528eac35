"""Version 1 payloads of the booking service's integration events (`booking.events.v1`)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID

from pydantic import Field

from kairos.events.payload import Email, Payload
from kairos.events.sealed import Personal, PersonalEmail, Sealed
from kairos.text import Storable

__all__ = ["Email", "Payload", "Sealed"]  # re-exported: consumers import them from here


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
    name: Personal
    email: PersonalEmail
    timezone: Storable
    phone: Personal | None = None


class SpecialistRegistered(Payload):
    specialist_id: UUID
    name: Personal
    email: PersonalEmail
    timezone: Storable
    specialty: Storable | None = None
    bio: Personal | None = None


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


ReminderChannel = Literal["email", "sms", "push"]
ReminderRecipient = Literal["client", "specialist"]


class Reminder(Payload):
    """One reminder of a booking: how long before its start, by which channels, to whom,
    and whether it carries the link to join the consultation."""

    before_minutes: int
    channels: list[ReminderChannel]
    to: list[ReminderRecipient]
    join_link: bool = False


DEFAULT_REMINDERS: tuple[Reminder, ...] = (
    Reminder(before_minutes=48 * 60, channels=["email", "push"], to=["client", "specialist"]),
    Reminder(before_minutes=24 * 60, channels=["email"], to=["client"]),
    Reminder(before_minutes=60, channels=["sms", "push"], to=["client"]),
    Reminder(
        before_minutes=15, channels=["email", "push"], to=["client", "specialist"], join_link=True
    ),
)
"""The reminders of a service whose `reminders` is null (API.md, Notifications)."""


NO_SPECIALIST = UUID(int=0)
"""The specialist_id (and partitioning key) of what belongs to no one specialist: a team,
a team's service, a person's erasure."""


class TeamMember(Payload):
    specialist_id: UUID
    weight: int = Field(ge=1, description="Share of the team's round-robin bookings")
    priority: int = Field(description="Higher wins a round-robin tie")


class TeamDefinition(Payload):
    """A team of specialists, booked round-robin or together by its services. Its
    envelope's specialist_id is the nil UUID (NO_SPECIALIST)."""

    team_id: UUID
    name: Storable
    members: list[TeamMember]


class TeamDefined(TeamDefinition):
    pass


class TeamUpdated(TeamDefinition):
    """Carries the whole team after the change, so consumers just replace it."""


Assignment = Literal["round_robin", "collective"]


class ServiceDefinition(Payload):
    service_id: UUID
    specialist_id: UUID = Field(
        description="The specialist offering it; NO_SPECIALIST (the nil UUID) for a team's"
    )
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
    # Added to v1; absent from the events published before, hence the defaults.
    reminders: list[Reminder] | None = Field(
        default=None,
        description="The service's reminders; null: the defaults"
        " (DEFAULT_REMINDERS in kairos.events.booking)",
    )
    no_show_notice: Storable | None = Field(
        default=None, description="Sent to a client marked a no-show, if set"
    )
    recording: Literal["off", "optional", "required"] = Field(
        default="off", description="Whether the video consultation is recorded (consent first)"
    )
    waiting_room_minutes: int = Field(
        default=10, ge=0, description="The video room opens this long before the start"
    )


class ServiceDefined(ServiceDefinition):
    pass


class ServiceUpdated(ServiceDefinition):
    """Carries the whole definition after the change, so consumers just replace it."""


class TeamOwned(Payload):
    """What a team's service adds to its definition: consumers that don't care about teams
    read TeamServiceDefined and TeamServiceUpdated as the ServiceDefined and ServiceUpdated
    they are (their specialist_id is NO_SPECIALIST)."""

    team_id: UUID
    assignment: Assignment = Field(
        description="round_robin books one free member, collective all of them at once"
    )


class TeamServiceDefined(TeamOwned, ServiceDefined):
    pass


class TeamServiceUpdated(TeamOwned, ServiceUpdated):
    pass


class PersonalContact(Payload):
    """A person's name and how to reach them, sealed under their key (kairos.privacy):
    read them with PersonalData.reveal."""

    name: Personal
    email: PersonalEmail
    phone: Personal | None = None


class BookedService(Payload):
    service_id: UUID
    name: Storable
    duration_minutes: int


class BookedSpecialist(Payload):
    specialist_id: UUID
    timezone: Storable
    contact: PersonalContact


class BookedClient(Payload):
    timezone: Storable
    contact: PersonalContact


BookingStatus = Literal[
    "requested",
    "pending",
    "confirmed",
    "declined",
    "cancelled",
    "in_progress",
    "completed",
    "no_show",
]


class BookingSnapshot(Payload):
    """The booking as it stands after the event that carries it: enough for a consumer to
    act (who, when, what) without projecting other events. The service and specialist are
    as they stood when the event happened."""

    status: BookingStatus
    service: BookedService
    specialist: BookedSpecialist
    client: BookedClient
    starts_at: datetime
    ends_at: datetime
    busy_from: datetime = Field(description="starts_at less the service's before-buffer")
    busy_until: datetime = Field(description="ends_at plus the service's after-buffer")
    answers: dict[Storable, Personal]
    team_id: UUID | None = Field(default=None, description="A team booking's team")
    specialist_ids: list[UUID] = Field(
        default_factory=list,
        description="Every specialist whose time it holds: all members of a collective"
        " booking, else the specialist alone (empty in snapshots from before teams)",
    )
    co_specialists: list[BookedSpecialist] = Field(
        default_factory=list,
        description="A collective booking's other members (specialist_ids after the first),"
        " as `specialist` is given; empty for any other booking",
    )


class BookingEvent(Payload):
    """An event of one booking's lifecycle."""

    booking_id: UUID
    booking: BookingSnapshot | None = Field(
        default=None,
        description="The booking after this event; absent only from events published before"
        " snapshots existed (republishing them from the event store adds it)",
    )


class BookingTimes(BookingEvent):
    """The booked interval and the interval it keeps busy (padded by the service's buffers)."""

    starts_at: datetime
    ends_at: datetime
    busy_from: datetime
    busy_until: datetime


class SlotRequested(BookingTimes):
    """A client asked for a slot; BookingConfirmed or BookingPending follows in the same commit."""

    service_id: UUID
    client: Client
    answers: dict[Storable, Personal]
    notes: Personal | None = None
    team_id: UUID | None = Field(default=None, description="A team booking's team")
    specialist_ids: list[UUID] = Field(
        default_factory=list,
        description="Every specialist whose time it holds: a collective booking's members,"
        " the envelope's specialist first; else just that one (empty before teams: read it"
        " as the envelope's specialist alone)",
    )


class BookingConfirmed(BookingEvent):
    """The booking holds its time (directly, or approved after BookingPending)."""


class BookingPending(BookingEvent):
    """The booking awaits the specialist's approval; its time is held meanwhile."""


class BookingDeclined(BookingEvent):
    reason: Storable | None = None


class BookingCancelled(BookingEvent):
    reason: Storable | None = None
    refund_eligible: bool
    cancelled_by: Literal["client", "specialist", "admin"]


class BookingRescheduled(BookingTimes):
    previous_starts_at: datetime
    previous_ends_at: datetime


class BookingReassigned(BookingEvent):
    """A round-robin booking went to another member of its team, at the same time: the
    previous member's time is free again, the new one's busy. Like every event of the
    booking it stays on its first specialist's partition (the envelope's specialist_id),
    so consumers see a booking's events in order."""

    specialist_id: UUID
    previous_specialist_id: UUID


class BookingStarted(BookingEvent):
    """The consultation began (e.g. both parties joined its video session): in_progress.
    The booking keeps its time; it can no longer be cancelled or rescheduled."""


class BookingCompleted(BookingEvent):
    """The consultation took place."""


class NoShowMarked(BookingEvent):
    party: Literal["client", "specialist"]


class PersonErased(Payload):
    """A person was erased (POST /v1/privacy/erasures): their keys are gone, so their sealed
    values read as erased from now on. A service that keeps data derived from personal
    fields forgets what it holds of these subjects, then reports to the erasure ledger
    (kairos.privacy.ErasureLedger.report). It names no specialist: its envelope's
    specialist_id is the nil UUID."""

    erasure_id: UUID
    subjects: list[UUID] = Field(description="The erased data subjects (Sealed.subject)")


BOOKING_EVENTS: tuple[type[Payload], ...] = (
    SpecialistRegistered,
    ScheduleSet,
    OverrideSet,
    OverrideCleared,
    TeamDefined,
    TeamUpdated,
    ServiceDefined,
    ServiceUpdated,
    TeamServiceDefined,
    TeamServiceUpdated,
    SlotRequested,
    BookingConfirmed,
    BookingPending,
    BookingDeclined,
    BookingCancelled,
    BookingRescheduled,
    BookingReassigned,
    BookingStarted,
    BookingCompleted,
    NoShowMarked,
    PersonErased,
)
