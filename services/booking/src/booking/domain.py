"""The booking write model: specialists, services, bookings and the day ledgers that guard them.

Aggregates are pure: no I/O, no clock. Commands that depend on time take `now`
(or `at`) as an argument. Event attributes are plain JSON-able values (dates as
ISO strings, windows as [start_minute, end_minute] pairs) so stored events stay
readable by any version of this code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from itertools import pairwise
from typing import Any, Literal, get_args
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from kairos.assignment import Member, still_weighed
from kairos.errors import KairosError
from kairos.slots import Interval, LocalWindow, ServiceRules, WorkingHours
from kairos.timezones import MINUTES_PER_DAY, iso_utc, zone

# A pair of minutes since local midnight; the end may be 1440 (24:00).
WindowPair = list[int]
# A personal value as events store it: sealed under its person's key (the JSON form of
# kairos.privacy.Sealed), or plain text in events stored before sealing. The service
# layer seals; aggregates only keep what they are given.
PersonalValue = str | dict[str, str]


def event_class(aggregate: type[Aggregate], name: str) -> type[Any]:
    """The event class the `@event(name)` decorator made on `aggregate` (e.g. Booking.Confirmed),
    looked up by name because type checkers can't see decorator-made classes."""
    cls: type[Any] = getattr(aggregate, name)
    return cls


class DomainError(KairosError):
    """A business rule refused a command; `code` is the API's error code, and the shared
    handler of KairosError answers it (kairos.web.errors)."""

    code = "domain_error"
    status = 422


class InvalidSchedule(DomainError):
    code = "invalid_schedule"


class InvalidState(DomainError):
    code = "invalid_state"
    status = 409


class MissingAnswer(DomainError):
    code = "missing_answer"


class TooEarly(DomainError):
    """A command that needs the consultation to have started (or nearly) came before that.
    425 and `too_early`, as the video service answers a join before the waiting room opens."""

    code = "too_early"
    status = 425

    def __init__(self, command: str, allowed_from: datetime) -> None:
        super().__init__(
            f"too early to {command}: allowed from {iso_utc(allowed_from)}",
            {"allowed_from": iso_utc(allowed_from)},
        )


def check_windows(windows: list[WindowPair]) -> None:
    """Windows of one day must be well-formed, non-inverted and non-overlapping."""
    ordered = sorted(windows)
    for start, end in ordered:
        if not (0 <= start < end <= MINUTES_PER_DAY):
            raise InvalidSchedule(
                "a window must start before it ends, within the day", {"window": [start, end]}
            )
    for (_, end), (next_start, _) in pairwise(ordered):
        if next_start < end:
            raise InvalidSchedule("windows of one day overlap", {"windows": ordered})


class Specialist(Aggregate):
    """A person clients book: profile, time zone, weekly schedule and date overrides."""

    @event("Registered")
    def __init__(
        self,
        name: PersonalValue,
        email: PersonalValue,
        timezone: str,
        specialty: str | None,
        bio: PersonalValue | None,
    ) -> None:
        self.name = name
        self.email = email
        self.timezone = timezone
        self.specialty = specialty
        self.bio = bio
        # weekday (0 = Monday) → windows; date ISO string → windows ([] = blocked)
        self.weekly: dict[int, list[WindowPair]] = {}
        self.overrides: dict[str, list[WindowPair]] = {}

    def set_schedule(self, timezone: str, weekly: dict[int, list[WindowPair]]) -> None:
        _check_schedule(timezone, weekly)
        self._schedule_set(timezone=timezone, weekly={d: sorted(w) for d, w in weekly.items()})

    def proposed_hours(self, timezone: str, weekly: dict[int, list[WindowPair]]) -> WorkingHours:
        """The working hours `set_schedule(timezone, weekly)` would give (its overrides
        kept), checked as it checks them, without changing anything: what a preview shows."""
        _check_schedule(timezone, weekly)
        return _working_hours(timezone, weekly, self.overrides)

    @event("ScheduleSet")
    def _schedule_set(self, timezone: str, weekly: dict[int, list[WindowPair]]) -> None:
        self.timezone = timezone
        # JSON object keys come back as strings when events are reloaded.
        self.weekly = {int(day): windows for day, windows in weekly.items()}

    def set_override(self, day: date, windows: list[WindowPair]) -> None:
        check_windows(windows)
        self._override_set(day=day.isoformat(), windows=sorted(windows))

    @event("OverrideSet")
    def _override_set(self, day: str, windows: list[WindowPair]) -> None:
        self.overrides[day] = windows

    def clear_override(self, day: date) -> None:
        if day.isoformat() in self.overrides:
            self._override_cleared(day=day.isoformat())

    @event("OverrideCleared")
    def _override_cleared(self, day: str) -> None:
        del self.overrides[day]

    def working_hours(self) -> WorkingHours:
        return _working_hours(self.timezone, self.weekly, self.overrides)


def _check_schedule(timezone: str, weekly: dict[int, list[WindowPair]]) -> None:
    zone(timezone)
    for day, windows in weekly.items():
        if not 0 <= day <= 6:
            raise InvalidSchedule("day must be 0 (Monday) to 6 (Sunday)", {"day": day})
        check_windows(windows)


def _working_hours(
    timezone: str, weekly: dict[int, list[WindowPair]], overrides: dict[str, list[WindowPair]]
) -> WorkingHours:
    def windows(pairs: list[WindowPair]) -> list[LocalWindow]:
        return [LocalWindow(start, end) for start, end in pairs]

    return WorkingHours(
        timezone=zone(timezone),
        weekly={day: windows(w) for day, w in weekly.items()},
        overrides={date.fromisoformat(d): windows(w) for d, w in overrides.items()},
    )


@dataclass(frozen=True)
class ServiceTerms:
    """What a client books and on which terms: a service's whole definition but its owner.
    The domain's one list of a service's fields; events carry it as a plain dict."""

    name: str
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
    currency: str | None
    questions: list[dict[str, Any]]
    # Added later: absent from the services defined before, hence the defaults.
    reminders: list[dict[str, Any]] | None = None  # None: the default reminders
    no_show_notice: str | None = None
    # The video consultation (the video service reads them from ServiceDefined/Updated).
    recording: str = "off"  # "off", "optional" (with the client's consent) or "required"
    waiting_room_minutes: int = 10  # the room opens this long before the start

    @cached_property
    def rules(self) -> ServiceRules:
        """The slot rules of these terms, made once: a booking asks for them several times,
        and terms never change (a service's update replaces them)."""
        return ServiceRules.of(self)


# Read by the upcaster of version 1 events, which stored the terms beside the owner.
_TERM_NAMES = frozenset(f.name for f in fields(ServiceTerms))


Assignment = Literal["round_robin", "collective"]
ASSIGNMENTS: tuple[Assignment, ...] = get_args(Assignment)


class Service(Aggregate):
    """What a client books (an event type): its owner and its terms (duration, buffers,
    limits, policy, questions). The owner is a specialist, or a team whose members are
    booked by `assignment`: one of them, chosen round-robin, or all of them at once."""

    class Defined(Aggregate.Created):
        specialist_id: UUID | None  # None: a team's, told by the OfferedByTeam that follows
        terms: dict[str, Any]

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["terms"] = {name: state.pop(name) for name in _TERM_NAMES if name in state}

    @classmethod
    def define(cls, specialist_id: UUID, terms: ServiceTerms) -> Service:
        return cls(specialist_id=specialist_id, terms=asdict(terms))

    @classmethod
    def define_for_team(cls, team_id: UUID, assignment: Assignment, terms: ServiceTerms) -> Service:
        if assignment not in ASSIGNMENTS:
            raise InvalidTeam(f"assignment must be one of {', '.join(ASSIGNMENTS)}")
        service = cls(specialist_id=None, terms=asdict(terms))
        service._offered_by_team(team_id=team_id, assignment=assignment)
        return service

    @event(Defined)
    def __init__(self, specialist_id: UUID | None, terms: dict[str, Any]) -> None:
        self.specialist_id = specialist_id
        self.terms = ServiceTerms(**terms)
        self.team_id: UUID | None = None
        self.assignment: Assignment | None = None

    @event("OfferedByTeam")
    def _offered_by_team(self, team_id: UUID, assignment: Assignment) -> None:
        self.team_id = team_id
        self.assignment = assignment

    @event("Updated")
    def update(self, changes: dict[str, Any]) -> None:
        self.terms = replace(self.terms, **changes)

    def rules(self) -> ServiceRules:
        return self.terms.rules

    def check_answers(self, answers: dict[str, str]) -> None:
        missing = [
            q["key"]
            for q in self.terms.questions
            if q.get("required") and not str(answers.get(q["key"], "")).strip()
        ]
        if missing:
            raise MissingAnswer("required intake questions are unanswered", {"missing": missing})
        for q in self.terms.questions:
            value = answers.get(q["key"])
            if q["type"] == "select" and value and value not in (q.get("options") or []):
                raise MissingAnswer(
                    f"answer to {q['key']!r} is not one of its options",
                    {"key": q["key"], "options": q.get("options")},
                )

    def refund_eligible(self, starts_at: datetime, now: datetime) -> bool:
        return now <= starts_at - timedelta(hours=self.terms.cancellation_hours)


class InvalidTeam(DomainError):
    code = "invalid_team"


def check_members(members: list[dict[str, Any]]) -> None:
    if not members:
        raise InvalidTeam("a team needs at least one member")
    ids = [str(m["specialist_id"]) for m in members]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise InvalidTeam("a specialist is listed more than once", {"specialist_ids": twice})
    if any(m["weight"] < 1 for m in members):
        raise InvalidTeam("a member's weight must be at least 1")


class Team(Aggregate):
    """Specialists booked together: round-robin (one of them, fairly) or collective (all).
    Members are JSON-able dicts {specialist_id, weight, priority}."""

    @classmethod
    def form(cls, name: str, members: list[dict[str, Any]]) -> Team:
        check_members(members)
        return cls(name=name, members=members)

    @event("Formed")
    def __init__(self, name: str, members: list[dict[str, Any]]) -> None:
        self.name = name
        self.members = members

    def change(self, name: str | None, members: list[dict[str, Any]] | None) -> None:
        if members is not None:
            check_members(members)
        if (name is not None and name != self.name) or (
            members is not None and members != self.members
        ):
            self._changed(
                name=name or self.name, members=self.members if members is None else members
            )

    @event("Changed")
    def _changed(self, name: str, members: list[dict[str, Any]]) -> None:
        self.name = name
        self.members = members

    @property
    def roster(self) -> list[Member]:
        return [
            Member(UUID(str(m["specialist_id"])), int(m["weight"]), int(m["priority"]))
            for m in self.members
        ]

    def member_ids(self) -> list[UUID]:
        return [m.specialist_id for m in self.roster]


TALLY_NAMESPACE = uuid5(NAMESPACE_URL, "https://kairos.invalid/team-tally")


class TeamTally(Aggregate):
    """Which member each of a team's round-robin bookings went to, and when: what the
    assignment rule weighs (kairos.assignment). Saved with every round-robin booking, so
    concurrent assignments from one team's tally serialise: each sees the last one.

    It keeps only what the rule can still weigh (`still_weighed`: the rolling window and
    each member's latest), so its state is as large as the window, not the team's
    history; the application snapshots it, so loading it reads no more than an
    interval's events either."""

    @staticmethod
    def create_id(team_id: UUID) -> UUID:
        return uuid5(TALLY_NAMESPACE, str(team_id))

    @event("Opened")
    def __init__(self, team_id: UUID) -> None:
        self.team_id = team_id
        # booking id → [member id, when assigned]
        self.bookings: dict[str, tuple[str, datetime]] = {}

    @event("Assigned")
    def assign(self, booking_id: UUID, specialist_id: UUID, at: datetime) -> None:
        self.bookings[str(booking_id)] = (str(specialist_id), at)
        # Assignments come in time order (up to the clocks' skew, nothing beside the
        # window): what is forgotten at `at`, no later assignment weighs either.
        self.bookings = still_weighed(self.bookings, at)

    def reassign(self, booking_id: UUID, specialist_id: UUID) -> None:
        """The booking counts for its new member from when it was first assigned."""
        if str(booking_id) in self.bookings:
            self._reassigned(booking_id=booking_id, specialist_id=specialist_id)

    @event("Reassigned")
    def _reassigned(self, booking_id: UUID, specialist_id: UUID) -> None:
        _, at = self.bookings[str(booking_id)]
        self.bookings[str(booking_id)] = (str(specialist_id), at)

    def assigned(self) -> dict[UUID, list[datetime]]:
        """Member → when each of their bookings of the team was assigned."""
        times: dict[UUID, list[datetime]] = {}
        for member, at in self.bookings.values():
            times.setdefault(UUID(member), []).append(at)
        return times


ACTIVE = frozenset({"pending", "confirmed"})

# Defaults of the booking service's time rules; a deployment may set its own.
# The waiting room opens this long before the start (API.md, video).
WAITING_ROOM = timedelta(minutes=10)
# A party counts as absent only once this much of the consultation has gone by.
NO_SHOW_GRACE = timedelta(minutes=15)


class Booking(Aggregate):
    """One consultation's lifecycle: pending → confirmed/declined; confirmed → cancelled,
    in_progress (from the waiting room on), completed (once started) or no_show (once
    started and a grace period gone); in_progress → completed or no_show. Only pending and
    confirmed bookings can be cancelled or rescheduled. Rescheduling keeps the id."""

    @event("SlotRequested")
    def __init__(
        self,
        id: UUID,
        service_id: UUID,
        specialist_id: UUID,
        starts_at: datetime,
        ends_at: datetime,
        busy_from: datetime,
        busy_until: datetime,
        client: dict[str, Any],
        answers: dict[str, PersonalValue],
        notes: PersonalValue | None,
        fingerprint: str,
        ledger_days: list[str],
        at: datetime,
        team_id: UUID | None = None,
        co_claims: dict[str, list[str]] | None = None,
    ) -> None:
        """`team_id`: the team of a team service's booking, whose `specialist_id` is then
        the member assigned (round-robin) or the first member (collective). `co_claims`:
        a collective booking's other members → the UTC dates of their ledgers it claims.
        Both absent from events stored before teams, hence the defaults."""
        self.service_id = service_id
        self.specialist_id = specialist_id
        self.team_id = team_id
        self.co_claims = co_claims or {}
        self.starts_at = starts_at
        self.ends_at = ends_at
        self.busy_from = busy_from
        self.busy_until = busy_until
        self.client = client
        self.answers = answers
        self.notes = notes
        self.fingerprint = fingerprint
        # The UTC dates of the ledgers holding this booking's claim, released on cancel.
        self.ledger_days = ledger_days
        self.status = "requested"
        self.history: list[tuple[str, datetime]] = []
        self.cancel_reason: str | None = None
        self.refund_eligible: bool | None = None
        self.no_show_party: str | None = None

    @property
    def busy(self) -> Interval:
        return Interval(self.busy_from, self.busy_until)

    @property
    def claims(self) -> dict[UUID, list[str]]:
        """Every specialist whose time this booking holds → the UTC dates of their ledgers
        holding it: its specialist, and a collective booking's other members."""
        return {
            self.specialist_id: self.ledger_days,
            **{UUID(member): days for member, days in self.co_claims.items()},
        }

    @property
    def specialist_ids(self) -> list[UUID]:
        return list(self.claims)

    def _check_status(self, command: str, *allowed: str) -> None:
        if self.status not in allowed:
            raise InvalidState(
                f"cannot {command} a {self.status} booking",
                {"status": self.status, "allowed_from": list(allowed)},
            )

    def _enter(self, status: str, at: datetime) -> None:
        self.status = status
        self.history.append((status, at))

    @event("Confirmed")
    def confirm(self, at: datetime) -> None:
        self._enter("confirmed", at)

    @event("Pending")
    def hold_for_approval(self, at: datetime) -> None:
        self._enter("pending", at)

    def approve(self, at: datetime) -> None:
        self._check_status("approve", "pending")
        self.confirm(at)

    def decline(self, reason: str | None, at: datetime) -> None:
        self._check_status("decline", "pending")
        self._declined(reason=reason, at=at)

    @event("Declined")
    def _declined(self, reason: str | None, at: datetime) -> None:
        self.cancel_reason = reason
        self._enter("declined", at)

    def cancel(self, reason: str | None, refund_eligible: bool, by: str, at: datetime) -> bool:
        """Cancel; False when it already was (cancelling twice changes nothing)."""
        if self.status == "cancelled":
            return False
        self._check_status("cancel", *ACTIVE)
        self._cancelled(reason=reason, refund_eligible=refund_eligible, by=by, at=at)
        return True

    @event("Cancelled")
    def _cancelled(self, reason: str | None, refund_eligible: bool, by: str, at: datetime) -> None:
        self.cancel_reason = reason
        self.refund_eligible = refund_eligible
        self._enter("cancelled", at)

    def reschedule(
        self,
        starts_at: datetime,
        ends_at: datetime,
        busy: Interval,
        ledger_days: list[str],
        at: datetime,
    ) -> None:
        self._check_status("reschedule", *ACTIVE)
        if self.co_claims:
            raise InvalidState(
                "a collective booking cannot be rescheduled: cancel it and book again",
                {"specialist_ids": [str(s) for s in self.specialist_ids]},
            )
        self._rescheduled(
            starts_at=starts_at,
            ends_at=ends_at,
            busy_from=busy.start,
            busy_until=busy.end,
            previous_starts_at=self.starts_at,
            previous_ends_at=self.ends_at,
            ledger_days=ledger_days,
            at=at,
        )

    @event("Rescheduled")
    def _rescheduled(
        self,
        starts_at: datetime,
        ends_at: datetime,
        busy_from: datetime,
        busy_until: datetime,
        previous_starts_at: datetime,
        previous_ends_at: datetime,
        ledger_days: list[str],
        at: datetime,
    ) -> None:
        self.starts_at, self.ends_at = starts_at, ends_at
        self.busy_from, self.busy_until = busy_from, busy_until
        self.ledger_days = ledger_days

    def reassign(self, specialist_id: UUID, ledger_days: list[str], at: datetime) -> None:
        """Give a round-robin booking to another member of its team (the service layer
        checks that they are one, and free)."""
        self._check_status("reassign", *ACTIVE)
        if self.team_id is None or self.co_claims:
            raise InvalidState(
                "only a round-robin team booking can be reassigned", {"team_id": self.team_id}
            )
        self._reassigned(
            assignee=specialist_id,
            previous_assignee=self.specialist_id,
            ledger_days=ledger_days,
            at=at,
        )

    # Not `specialist_id`: the mapper keys events by that attribute, and every event of a
    # booking stays on its first specialist's partition, so consumers see them in order.
    @event("Reassigned")
    def _reassigned(
        self, assignee: UUID, previous_assignee: UUID, ledger_days: list[str], at: datetime
    ) -> None:
        self.specialist_id = assignee
        self.ledger_days = ledger_days

    def start(self, at: datetime, waiting_room: timedelta = WAITING_ROOM) -> None:
        """The consultation began (its video session started)."""
        self._check_status("start", "confirmed")
        self._check_not_before("start", self.starts_at - waiting_room, at)
        self._started(at=at)

    @event("Started")
    def _started(self, at: datetime) -> None:
        self._enter("in_progress", at)

    def _check_not_before(self, command: str, allowed_from: datetime, at: datetime) -> None:
        if at < allowed_from:
            raise TooEarly(command, allowed_from)

    def complete(self, at: datetime) -> None:
        self._check_status("complete", "confirmed", "in_progress")
        if self.status == "confirmed":
            self._check_not_before("complete", self.starts_at, at)
        self._completed(at=at)

    @event("Completed")
    def _completed(self, at: datetime) -> None:
        self._enter("completed", at)

    def mark_no_show(self, party: str, at: datetime, grace: timedelta = NO_SHOW_GRACE) -> None:
        self._check_status("mark a no-show on", "confirmed", "in_progress")
        self._check_not_before("mark a no-show", self.starts_at + grace, at)
        self._no_show_marked(party=party, at=at)

    @event("NoShowMarked")
    def _no_show_marked(self, party: str, at: datetime) -> None:
        self.no_show_party = party
        self._enter("no_show", at)


LEDGER_NAMESPACE = uuid5(NAMESPACE_URL, "https://kairos.invalid/ledger")


@dataclass(frozen=True)
class Claim:
    service_id: UUID
    starts_at: datetime
    busy: Interval


class DayLedger(Aggregate):
    """The time one specialist has promised on one UTC date.

    A booking claims its padded interval on every UTC date that interval touches,
    and on every UTC date its local day (in the specialist's zone) overlaps; it is
    saved atomically with those ledgers. So two overlapping bookings, or two on the
    same local day, always write a common ledger and one of them loses on its
    version number. Ledgers are keyed by UTC date, not local date, so a specialist
    who changes time zone keeps every claim where the next booking looks for it.
    """

    @staticmethod
    def create_id(specialist_id: UUID, day: str) -> UUID:
        return uuid5(LEDGER_NAMESPACE, f"{specialist_id}/{day}")

    @event("Opened")
    def __init__(self, specialist_id: UUID, day: str) -> None:
        self.specialist_id = specialist_id
        self.day = day
        self.claims: dict[str, Claim] = {}

    @event("Claimed")
    def claim(
        self,
        booking_id: UUID,
        service_id: UUID,
        starts_at: datetime,
        busy_from: datetime,
        busy_until: datetime,
    ) -> None:
        self.claims[str(booking_id)] = Claim(service_id, starts_at, Interval(busy_from, busy_until))

    def release(self, booking_id: UUID) -> None:
        if str(booking_id) in self.claims:
            self._released(booking_id=booking_id)

    @event("Released")
    def _released(self, booking_id: UUID) -> None:
        del self.claims[str(booking_id)]


EMAIL_NAMESPACE = uuid5(NAMESPACE_URL, "https://kairos.invalid/specialist-email-index")


class EmailTaken(DomainError):
    code = "email_taken"
    status = 409


class SpecialistEmail(Aggregate):
    """One specialist's hold on an e-mail address. Its id is derived from the address's
    blind index (a keyed digest, kairos.privacy: never the address itself) and it is saved
    with the specialist it names, so a second registration with the same address fails to
    save, even one racing the first in another process."""

    class Claimed(Aggregate.Created):
        class_version = 2
        index: str
        specialist_id: UUID

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # Version 1 held the address in clear (and its hold's id derived from it).
            state.pop("email", None)
            state["index"] = ""

    @staticmethod
    def create_id(index: str, specialist_id: UUID) -> UUID:
        return SpecialistEmail.id_for(index)

    @staticmethod
    def id_for(index: str) -> UUID:
        """The id of the hold on the address with this blind index."""
        return uuid5(EMAIL_NAMESPACE, index)

    @event(Claimed)
    def __init__(self, index: str, specialist_id: UUID) -> None:
        self.index = index
        self.specialist_id = specialist_id


class Erasure(Aggregate):
    """A person forgotten: the data subjects whose keys were deleted (kairos.privacy). It
    holds no personal data; it is published so that other services forget theirs."""

    @event("Requested")
    def __init__(self, id: UUID, subjects: list[UUID], at: datetime) -> None:
        self.subjects = subjects
        self.at = at
