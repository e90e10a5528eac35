"""Request and response bodies of the booking API (API.md, Catalog and Bookings)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    PlainSerializer,
    create_model,
    model_validator,
)
from pydantic.fields import FieldInfo

from booking.domain import Assignment, ServiceTerms
from kairos.events.booking import DEFAULT_REMINDERS, ReminderChannel, ReminderRecipient
from kairos.text import SINGLE_LINE_PATTERN, MultiLine, SingleLine
from kairos.timezones import UnknownTimezone, format_hhmm, iso_utc, parse_hhmm, zone
from kairos.web.slots import IsoDate


def _known_zone(name: str) -> str:
    try:
        zone(name)
    except UnknownTimezone as exc:
        raise ValueError(str(exc)) from None
    return name


def _hhmm(text: str) -> str:
    parse_hhmm(text)
    return text


# Far enough for any booking horizon, near enough that date arithmetic never overflows.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _to_utc(instant: datetime) -> datetime:
    try:
        utc = instant.astimezone(UTC)
    except OverflowError:
        raise ValueError("instant out of range") from None
    if not EARLIEST <= utc < LATEST:
        raise ValueError(f"instant must lie between {EARLIEST.year} and {LATEST.year}")
    return utc


Timezone = Annotated[SingleLine, AfterValidator(_known_zone), Field(examples=["Europe/Berlin"])]
HHMM = Annotated[SingleLine, AfterValidator(_hhmm), Field(examples=["09:00"])]
Instant = Annotated[
    AwareDatetime, AfterValidator(_to_utc), PlainSerializer(iso_utc, return_type=str)
]
Name = Annotated[SingleLine, Field(min_length=1, max_length=200)]
Text = Annotated[MultiLine, Field(max_length=5000)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _absent(value: Any) -> bool:
    return value is None or value == []


# A team field is left out of a one-specialist service or booking, which so reads exactly
# as it did before teams existed.
IF_A_TEAM: Any = {"exclude_if": _absent}


_READ_YOUR_WRITES = (
    "The change's place in the event log, on responses to commands (null on reads): pass it"
    " as min_position to GET /v1/slots to see slots that already reflect it"
)
NOTIFICATION_ID_HEADER = "Kairos-Notification-Id"
"""The same for a command answering 204, which has no body to carry it."""


class Written(BaseModel):
    """What a command's response adds to the resource it changed."""

    notification_id: int | None = Field(default=None, description=_READ_YOUR_WRITES)


# --- specialists --------------------------------------------------------------


class SpecialistCreate(Strict):
    name: Name
    email: EmailStr
    timezone: Timezone
    specialty: Name | None = None
    bio: Text | None = None


class WindowIn(Strict):
    start: HHMM
    end: HHMM

    def minutes(self) -> list[int]:
        return [parse_hhmm(self.start), parse_hhmm(self.end)]


class WeeklyWindowIn(WindowIn):
    day: int = Field(ge=0, le=6, description="0 = Monday")


class WindowOut(BaseModel):
    start: str
    end: str

    @classmethod
    def of(cls, pair: list[int]) -> WindowOut:
        return cls(start=format_hhmm(pair[0]), end=format_hhmm(pair[1]))


class WeeklyWindowOut(WindowOut):
    day: int


class ScheduleIn(Strict):
    timezone: Timezone | None = None
    weekly: list[WeeklyWindowIn] = Field(max_length=7 * 48)

    def by_day(self) -> dict[int, list[list[int]]]:
        days: dict[int, list[list[int]]] = {}
        for w in self.weekly:
            days.setdefault(w.day, []).append(w.minutes())
        return days


class SchedulePreviewIn(ScheduleIn):
    """A schedule not yet saved, and the slots of which service on which local dates
    (of the proposed zone) to show under it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    service_id: UUID
    from_: IsoDate = Field(alias="from", description="First date (YYYY-MM-DD)")
    to: IsoDate = Field(description="Last date (YYYY-MM-DD, inclusive)")


class OverrideIn(Strict):
    blocked: bool = False
    windows: list[WindowIn] = Field(default_factory=list, max_length=48)

    @model_validator(mode="after")
    def _blocked_xor_windows(self) -> OverrideIn:
        if self.blocked == bool(self.windows):
            raise ValueError("give either blocked: true or a non-empty list of windows")
        return self


class OverrideOut(BaseModel):
    date: date
    blocked: bool
    windows: list[WindowOut]


class SpecialistPublic(BaseModel):
    """The public profile: never the email."""

    id: UUID
    name: str
    timezone: str
    specialty: str | None
    bio: str | None
    weekly: list[WeeklyWindowOut] = []
    overrides: list[OverrideOut] = []


class SpecialistChanged(SpecialistPublic, Written):
    pass


class SpecialistCreated(SpecialistChanged):
    """The only answer that shows the e-mail address: to the admin who registered it."""

    email: str


class SpecialistPage(BaseModel):
    specialists: list[SpecialistPublic]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page"
    )


class OverrideChanged(OverrideOut, Written):
    pass


# --- services -----------------------------------------------------------------


class Question(Strict):
    key: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]
    label: Name
    type: Literal["text", "textarea", "select"]
    required: bool = False
    options: list[Name] | None = None

    @model_validator(mode="after")
    def _options_for_select(self) -> Question:
        if self.type == "select" and not self.options:
            raise ValueError("a select question needs options")
        return self


def _distinct(values: list[Any]) -> list[Any]:
    twice = sorted({str(v) for v in values if values.count(v) > 1})
    if twice:
        raise ValueError(f"listed more than once: {', '.join(twice)}")
    return values


def _distinct_keys(questions: list[Question]) -> list[Question]:
    _distinct([q.key for q in questions])
    return questions


# Validators on the fields' types, not the model, so the derived update schema has them.
Questions = Annotated[list[Question], Field(max_length=50), AfterValidator(_distinct_keys)]


class ReminderIn(Strict):
    before_minutes: Annotated[
        int, Field(ge=1, le=30 * 24 * 60, description="How long before the start (≤ 30 days)")
    ]
    channels: Annotated[list[ReminderChannel], Field(min_length=1), AfterValidator(_distinct)]
    to: Annotated[list[ReminderRecipient], Field(min_length=1), AfterValidator(_distinct)]
    join_link: bool = Field(default=False, description="Whether it carries the link to join")


def _distinct_offsets(reminders: list[ReminderIn]) -> list[ReminderIn]:
    _distinct([r.before_minutes for r in reminders])
    return reminders


Reminders = Annotated[list[ReminderIn], Field(max_length=20), AfterValidator(_distinct_offsets)]
Minutes = Annotated[int, Field(ge=0, le=7 * 24 * 60)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class ServiceFields(Strict):
    name: Name
    duration_minutes: Annotated[int, Field(ge=5, le=24 * 60)]
    slot_interval_minutes: Annotated[int, Field(ge=5, le=24 * 60)] | None = None
    buffer_before_minutes: Minutes = 0
    buffer_after_minutes: Minutes = 0
    minimum_notice_minutes: Annotated[int, Field(ge=0, le=365 * 24 * 60)] = 0
    max_advance_days: Annotated[int, Field(ge=1, le=730)] = 60
    max_per_day: Annotated[int, Field(ge=1, le=1000)] | None = None
    cancellation_hours: Annotated[int, Field(ge=0, le=24 * 365)] = 24
    requires_approval: bool = False
    price: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)] | None = None
    currency: Currency | None = None
    questions: Questions = Field(default_factory=list)
    reminders: Reminders | None = Field(
        default=None,
        description="Replaces the default reminders, which null (or absence) keeps; [] sends"
        " none. The defaults are the example.",
        examples=[[r.model_dump() for r in DEFAULT_REMINDERS]],
    )
    no_show_notice: Text | None = Field(
        default=None, description="Sent to a client marked a no-show; none if null"
    )
    recording: Literal["off", "optional", "required"] = Field(
        default="off",
        description="Record the video consultation: never, with the client's consent, or"
        " always (the client must consent before joining)",
    )
    waiting_room_minutes: Annotated[int, Field(ge=0, le=120)] = Field(
        default=10, description="The video room opens this many minutes before the start"
    )

    def terms(self) -> ServiceTerms:
        """The domain's terms of the service: these fields (not a subclass's additions)."""
        return ServiceTerms(**self.model_dump(include=set(ServiceFields.model_fields)))


class ServiceCreate(ServiceFields):
    specialist_id: UUID | None = Field(
        default=None,
        description="The specialist offering it; or give team_id instead",
        **IF_A_TEAM,
    )
    team_id: UUID | None = Field(
        default=None, description="The team offering it, instead of one specialist", **IF_A_TEAM
    )
    assignment: Assignment | None = Field(
        default=None,
        **IF_A_TEAM,
        description="For a team's service: round_robin books one free member (the one with"
        " the fewest of the team's recent bookings for their weight), collective books every"
        " member at once",
    )

    @model_validator(mode="after")
    def _one_owner(self) -> ServiceCreate:
        if (self.specialist_id is None) == (self.team_id is None):
            raise ValueError("give either specialist_id or team_id")
        if (self.team_id is None) != (self.assignment is None):
            raise ValueError("assignment goes with team_id, and only with it")
        return self


def _nullable(field: FieldInfo) -> Any:
    """`field`'s type with its constraints, or None."""
    constrained: Any = (
        Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
    )
    return constrained | None


class ServiceChanges(Strict):
    """Any subset of a service's fields; the rest stay as they are."""

    def changes(self) -> dict[str, Any]:
        # Fields sent (even as null, for the nullable ones) are changes; others are not.
        # Sent questions are dumped whole, their defaults included.
        changes = self.model_dump(include=self.model_fields_set)
        nulled = sorted(k for k in NOT_NULLABLE if k in changes and changes[k] is None)
        if nulled:
            raise ValueError(f"these fields cannot be null: {', '.join(nulled)}")
        return changes


# The fields a service must always have: sent as null in an update, they are refused.
NOT_NULLABLE = frozenset(
    name
    for name, field in ServiceFields.model_fields.items()
    if type(None) not in get_args(field.annotation)
)

# The update schema is the create schema's fields, each optional and without its default,
# derived so a new field or a changed limit is written once.
if TYPE_CHECKING:
    ServiceUpdate = ServiceChanges
else:
    ServiceUpdate = create_model(
        "ServiceUpdate",
        __base__=ServiceChanges,
        __doc__=ServiceChanges.__doc__,
        **{
            name: (
                _nullable(field),
                Field(default=None, description=field.description, examples=field.examples),
            )
            for name, field in ServiceFields.model_fields.items()
        },
    )


class ServicePublic(ServiceCreate):
    id: UUID


# --- teams --------------------------------------------------------------------


class MemberIn(Strict):
    specialist_id: UUID
    weight: Annotated[int, Field(ge=1, le=100)] = Field(
        default=1, description="Share of the team's round-robin bookings, relative to others'"
    )
    priority: Annotated[int, Field(ge=-100, le=100)] = Field(
        default=0, description="Higher wins a round-robin tie that counts and recency leave"
    )


def _distinct_members(members: list[MemberIn]) -> list[MemberIn]:
    _distinct([m.specialist_id for m in members])
    return members


Members = Annotated[
    list[MemberIn], Field(min_length=1, max_length=200), AfterValidator(_distinct_members)
]


class TeamCreate(Strict):
    name: Name
    members: Members


class TeamUpdate(Strict):
    """Either or both; members, when given, replace the whole list."""

    name: Name | None = None
    members: Members | None = None


class TeamPublic(BaseModel):
    id: UUID
    name: str
    members: list[MemberIn]


class TeamChanged(TeamPublic, Written):
    pass


class TeamMemberProfile(BaseModel):
    specialist_id: UUID
    name: str
    specialty: str | None


class TeamListing(BaseModel):
    """A team as clients find it: its members and services, never weights or priorities."""

    id: UUID
    name: str
    members: list[TeamMemberProfile]
    services: list[ServicePublic]


class TeamPage(BaseModel):
    teams: list[TeamListing]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page"
    )


class ReassignIn(Strict):
    specialist_id: UUID


class ServiceChanged(ServicePublic, Written):
    pass


class ServiceList(BaseModel):
    services: list[ServicePublic]


# --- bookings -----------------------------------------------------------------


class ClientIn(Strict):
    name: Name
    email: EmailStr
    timezone: Timezone
    phone: Annotated[str, Field(max_length=40, pattern=r"^\+?[0-9 ()\-.]{3,40}$")] | None = None


AnswerKey = Annotated[SingleLine, Field(max_length=64)]


class BookingCreate(Strict):
    service_id: UUID
    starts_at: Instant
    client: ClientIn
    answers: dict[AnswerKey, Text] = Field(
        default_factory=dict,
        max_length=50,
        # pydantic states a key pattern as patternProperties, which leaves other keys free.
        json_schema_extra={"propertyNames": {"maxLength": 64, "pattern": SINGLE_LINE_PATTERN}},
    )
    notes: Text | None = None


class HistoryEntry(BaseModel):
    status: str
    at: Instant


class BookingPublic(BaseModel):
    id: UUID
    status: str
    service_id: UUID
    specialist_id: UUID = Field(
        description="Its specialist: a team booking's assigned member (round-robin) or first"
        " member (collective)"
    )
    team_id: UUID | None = Field(default=None, description="A team booking's team", **IF_A_TEAM)
    specialist_ids: list[UUID] = Field(
        default_factory=list,
        description="A team booking's specialists whose time it holds: all members of a"
        " collective booking, the assigned one of a round-robin booking",
        **IF_A_TEAM,
    )
    starts_at: Instant
    ends_at: Instant
    client: ClientIn
    answers: dict[str, str]
    notes: str | None
    history: list[HistoryEntry]
    refund_eligible: bool | None = None
    cancellation_reason: str | None = None
    no_show_party: str | None = None
    notification_id: int | None = Field(default=None, description=_READ_YOUR_WRITES)


class BookingCreated(BookingPublic):
    manage_token: str = Field(
        description="Bearer token for this booking's read, cancel, "
        "reschedule and join; keep it secret"
    )


class CancelIn(Strict):
    reason: Text | None = None


class CancelOut(BaseModel):
    status: Literal["cancelled"]
    refund_eligible: bool
    notification_id: int | None = Field(default=None, description=_READ_YOUR_WRITES)


class RescheduleIn(Strict):
    starts_at: Instant


class DeclineIn(Strict):
    reason: Text | None = None


class NoShowIn(Strict):
    party: Literal["client", "specialist"]


class BookingSummary(BaseModel):
    id: UUID
    status: str
    service_id: UUID
    specialist_id: UUID
    starts_at: Instant
    ends_at: Instant
    client_name: str
    client_email: str
    client_timezone: str
    answers: dict[str, str] = Field(description="The client's answers to the intake questions")
    notes: str | None = Field(description="The client's notes with the request")
    position: int = Field(
        description="The notification id of the booking's latest change: pass the largest"
        " seen as changed_after to list only what changed since"
    )


class BookingList(BaseModel):
    bookings: list[BookingSummary]


# --- privacy ---------------------------------------------------------------------------


class ErasureCreate(Strict):
    """The person to forget, by the e-mail address they booked or registered with."""

    email: EmailStr


class ErasureCreated(BaseModel):
    id: UUID


ErasureState = Literal["pending", "done"]


class ErasureStatusOut(BaseModel):
    state: ErasureState = Field(description="done once every service has forgotten the person")
    services: dict[str, ErasureState] = Field(description="Each participating service's state")


# --- sign-in ----------------------------------------------------------------------------


class SignInRequest(Strict):
    email: EmailStr


class SignInVerify(Strict):
    code: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")] = Field(
        description="The code of the sign-in link (the part after #code=)"
    )


class SignInAccepted(BaseModel):
    # The same for every address, so the answer never tells whose address it is.
    accepted: bool = Field(
        True, description="Always true: a specialist with this address gets a link"
    )


class SignInToken(BaseModel):
    token: str = Field(description="The specialist JWT: send it as Authorization: Bearer")
    expires_at: Instant
