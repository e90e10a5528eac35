"""The booking service layer: loads aggregates, applies the slot rules, saves atomically."""

from __future__ import annotations

import functools
import hashlib
import time as monotonic_clock
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from typing import Any, ClassVar, NamedTuple, TypeVar
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import Aggregate, MutableOrImmutableAggregate
from eventsourcing.persistence import IntegrityError, Recording
from eventsourcing.utils import EnvType

from booking.contention import DEFAULT_TIMEOUT, Contention
from booking.domain import (
    NO_SHOW_GRACE,
    WAITING_ROOM,
    Assignment,
    Booking,
    DayLedger,
    DomainError,
    EmailTaken,
    InvalidTeam,
    Service,
    ServiceTerms,
    Specialist,
    SpecialistEmail,
    Team,
    TeamTally,
    WindowPair,
)
from booking.known_state import KnownState
from booking.store_reads import BusyWindow, folded, load_many, notification_id_of, read_since
from kairos.assignment import ranked
from kairos.privacy import PersonalData, Sealer
from kairos.slots import Interval, Rejection, check_start, offered_slots
from kairos.timezones import MINUTES_PER_DAY, iso_utc, local_date, local_to_utc, zone

T = TypeVar("T")

# A booking's request is answered by two events: SlotRequested, then Confirmed or Pending.
CREATED_VERSION = 2


class Placed(NamedTuple):
    booking: Booking
    # Notification id of the booking's last event; None when it already existed (a replay).
    position: int | None


class NotFound(DomainError):
    code = "not_found"
    status = 404


class SlotRejected(DomainError):
    """The slot rules refused a start time; the code is the rule's."""

    def __init__(self, rejection: Rejection, details: Any = None) -> None:
        super().__init__(_REJECTION_MESSAGES[rejection], details)
        self.code = rejection.value
        self.status = 409 if rejection in (Rejection.SLOT_UNAVAILABLE, Rejection.DAY_FULL) else 422


_REJECTION_MESSAGES = {
    Rejection.TOO_SOON: "that start is inside the service's minimum notice",
    Rejection.TOO_FAR: "that start is beyond the service's booking horizon",
    Rejection.OUTSIDE_AVAILABILITY: "that start is not an offered slot of the specialist",
    Rejection.DAY_FULL: "the specialist's day is fully booked for this service",
    Rejection.SLOT_UNAVAILABLE: "that slot is no longer free",
}


class MemberUnavailable(DomainError):
    """A reassignment's new member does not offer the booking's time."""

    code = "slot_unavailable"
    status = 409


# When members refuse a start for different reasons, the team's answer is the one that
# says most: a time some member offered and lost is "taken" (409), not "outside hours".
_TELLING = (
    Rejection.TOO_SOON,
    Rejection.TOO_FAR,
    Rejection.SLOT_UNAVAILABLE,
    Rejection.DAY_FULL,
    Rejection.OUTSIDE_AVAILABILITY,
)


def _most_telling(rejections: Iterable[SlotRejected]) -> SlotRejected:
    return min(rejections, key=lambda r: _TELLING.index(Rejection(r.code)))


# A booking request asks these of the same start several times (the days it contends
# on, reads and claims): pure functions of their arguments, so kept for the next ask.
@functools.lru_cache(maxsize=4096)
def _utc_days(interval: Interval) -> frozenset[str]:
    """The UTC dates (ISO) that the half-open `interval` touches."""
    day, last = interval.start.astimezone(UTC).date(), interval.end.astimezone(UTC).date()
    if interval.end.astimezone(UTC).time() == time() and last > day:
        last -= timedelta(days=1)
    days = set()
    while day <= last:
        days.add(day.isoformat())
        day += timedelta(days=1)
    return frozenset(days)


@functools.lru_cache(maxsize=4096)
def _local_day(instant: datetime, tz: ZoneInfo) -> Interval:
    """The local calendar day containing `instant`, as a UTC interval (23 to 25 hours)."""
    day = local_date(instant, tz)
    return Interval(local_to_utc(day, 0, tz), local_to_utc(day, MINUTES_PER_DAY, tz))


def _position_of(recordings: list[Recording[UUID]], booking: Booking) -> int:
    """The notification id of the booking's last event in a save: the read-your-writes
    position a client can wait for (ledger events after it are never published)."""
    return max(r.notification.id for r in recordings if r.domain_event.originator_id == booking.id)


#: (specialist id, start, end) → their external busy intervals overlapping [start, end).
ExternalBusyReader = Callable[[UUID, datetime, datetime], list[Interval]]


#: Events of a team's tally between its snapshots (see Bookings.snapshotting_intervals).
TALLY_SNAPSHOT_INTERVAL = 100


class Bookings(Application[UUID]):
    """Specialists' catalog and the booking lifecycle, with no double booking by construction."""

    name = "bookings"
    # A team's tally is loaded for each of its round-robin bookings and only ever grows
    # by events: from a snapshot, a load (after a restart, or once out of the aggregate
    # cache) reads at most this many of them. Nothing else is snapshotted.
    snapshotting_intervals: ClassVar[dict[type[MutableOrImmutableAggregate[Any]], int]] = {
        TeamTally: TALLY_SNAPSHOT_INTERVAL
    }

    def __init__(
        self,
        env: EnvType | None = None,
        no_show_grace: timedelta = NO_SHOW_GRACE,
        contention_timeout: timedelta = DEFAULT_TIMEOUT,
        personal: PersonalData | None = None,
        external_busy: ExternalBusyReader | None = None,
    ) -> None:
        """`personal` seals what commands record of people; without it (readers such as
        the relay, and the unit tests of the rules) commands keep values as given.
        `external_busy` reads a specialist's external calendar busy time overlapping an
        interval (booking.external_busy), which blocks starts as bookings do; on
        PostgreSQL a booking request reads its table in the statement that reads the
        ledgers (booking.store_reads), so it must be in the event store's database."""
        super().__init__(env=env)
        self.external_busy = external_busy
        self.known = KnownState()
        self.no_show_grace = no_show_grace
        self.contention = Contention(contention_timeout)
        self.personal = personal

    def save(self, *objects: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """Save, and remember the ledgers saved as current from the moment the save began
        (booking.known_state): the next command on them in this process needs no read."""
        began = monotonic_clock.monotonic()
        if all(isinstance(o, Aggregate) for o in objects):
            recordings = self._save_aggregates(objects, kwargs)
        else:
            recordings = super().save(*objects, **kwargs)
        self.known.remember((o for o in objects if isinstance(o, DayLedger)), began)
        return recordings

    def _save_aggregates(
        self, aggregates: tuple[Aggregate, ...], kwargs: dict[str, Any]
    ) -> list[Recording[UUID]]:
        """The library's save, for aggregates only: its own first asks of each object
        whether it is an event or an aggregate, with isinstance against runtime-checkable
        Protocols, which CPython 3.11 answers by walking the Protocols' attributes (60 µs
        of a booking's save)."""
        processing: ProcessingEvent[UUID] = ProcessingEvent()
        for aggregate in aggregates:
            processing.events.extend(aggregate.collect_events())
            processing.aggregates[aggregate.id] = aggregate
        processing.saved_kwargs.update(kwargs)
        recordings = self._record(processing)
        self._take_snapshots(processing)
        self._notify(recordings)
        return recordings

    # --- catalog --------------------------------------------------------------

    def register_specialist(
        self,
        name: str,
        email: str,
        timezone: str,
        specialty: str | None = None,
        bio: str | None = None,
    ) -> UUID:
        """A new specialist; EmailTaken if another one registered with the address."""
        zone(timezone)
        seal = self.sealer(email)
        specialist = Specialist(
            name=seal.seal(name),
            email=seal.seal(email),
            timezone=timezone,
            specialty=specialty,
            bio=seal.seal_optional(bio),
        )
        hold = SpecialistEmail(index=self.email_index(email), specialist_id=specialist.id)
        try:
            self.save(specialist, hold)
        except IntegrityError:
            raise EmailTaken("a specialist with this e-mail address exists") from None
        return specialist.id

    def sealer(self, email: str) -> Sealer | _Unsealed:
        """Seals the values of the person with this address."""
        return self.personal.sealer(email) if self.personal else _Unsealed()

    def email_index(self, email: str) -> str:
        """The blind index of an address: what a specialist's e-mail hold is keyed by."""
        if self.personal is None:
            return email.strip().casefold()
        return self.personal.keys.digest(email).hex()

    def specialist_with_email(self, email: str) -> UUID | None:
        """The specialist registered with this address, found by its blind index; None for
        an address no specialist holds, or one whose holder was erased."""
        hold = self._find(SpecialistEmail.id_for(self.email_index(email)), SpecialistEmail, False)
        if hold is None:
            return None
        if self.personal is not None and self.personal.keys.subject_of(email) is None:
            return None  # erased: the hold outlives the key, but names no one who can sign in
        return hold.specialist_id

    def set_schedule(
        self, specialist_id: UUID, timezone: str | None, weekly: dict[int, list[WindowPair]]
    ) -> Specialist:
        """Replace the weekly schedule (and the zone, when given)."""
        specialist = self.specialist(specialist_id)
        specialist.set_schedule(timezone or specialist.timezone, weekly)
        self.save(specialist)
        return specialist

    def set_override(self, specialist_id: UUID, day: date, windows: list[WindowPair]) -> Specialist:
        """Replace one local date's hours; no windows blocks the date."""
        specialist = self.specialist(specialist_id)
        specialist.set_override(day, windows)
        self.save(specialist)
        return specialist

    def clear_override(self, specialist_id: UUID, day: date) -> Specialist:
        specialist = self.specialist(specialist_id)
        specialist.clear_override(day)
        self.save(specialist)
        return specialist

    def preview_slots(
        self,
        specialist_id: UUID,
        proposal: tuple[str | None, dict[int, list[WindowPair]]],
        service_id: UUID,
        days: tuple[date, date],
        now: datetime,
    ) -> tuple[ZoneInfo, list[Interval]]:
        """The slots one of the specialist's services would offer on the local dates
        `days` (first, last) if `proposal` (zone or None for theirs, weekly windows) were
        their schedule: checked as set_schedule checks it, against their bookings,
        overrides and external busy time as the booking write side knows them now, with
        the slot rules every start is checked with. Nothing is saved."""
        specialist = self._read_only(specialist_id, Specialist, "specialist")
        timezone, weekly = proposal
        hours = specialist.proposed_hours(timezone or specialist.timezone, weekly)
        service = self._read_only(service_id, Service, "service")
        if service.specialist_id != specialist_id:
            raise NotFound(
                f"no service with id {service_id} of this specialist", {"id": str(service_id)}
            )
        rules, tz = service.rules(), hours.timezone
        first, last = days
        reach = Interval(
            local_to_utc(first, 0, tz) - rules.buffer_before,
            local_to_utc(last, MINUTES_PER_DAY, tz) + rules.buffer_after,
        )
        ledger_ids = [DayLedger.create_id(specialist_id, day) for day in _utc_days(reach)]
        ledgers = load_many(self, ledger_ids).values()
        busy, per_day = self._taken(specialist_id, service, ledgers, tz, reach)
        return tz, offered_slots(hours, rules, busy, per_day, first, last, now)

    def define_service(self, specialist_id: UUID, terms: ServiceTerms) -> Service:
        self.specialist(specialist_id)
        service = Service.define(specialist_id, terms)
        self.save(service)
        return service

    def update_service(self, service_id: UUID, changes: dict[str, Any]) -> Service:
        service = self.service(service_id)
        if changes:
            service.update(changes)
            self.save(service)
        return service

    def form_team(self, name: str, members: list[dict[str, Any]]) -> Team:
        """A team of registered specialists; members are {specialist_id, weight, priority}."""
        self._check_specialists(members)
        team = Team.form(name, members)
        self.save(team)
        return team

    def change_team(
        self, team_id: UUID, name: str | None, members: list[dict[str, Any]] | None
    ) -> Team:
        """Rename a team or replace its members; bookings already made keep their member."""
        team = self.team(team_id)
        if members is not None:
            self._check_specialists(members)
        team.change(name, members)
        if team.pending_events:
            self.save(team)
        return team

    def define_team_service(
        self, team_id: UUID, assignment: Assignment, terms: ServiceTerms
    ) -> Service:
        self.team(team_id)
        service = Service.define_for_team(team_id, assignment, terms)
        self.save(service)
        return service

    def _check_specialists(self, members: list[dict[str, Any]]) -> None:
        unknown = [
            str(m["specialist_id"])
            for m in members
            if self._find(UUID(str(m["specialist_id"])), Specialist, copy=False) is None
        ]
        if unknown:
            raise InvalidTeam("no specialist has these ids", {"specialist_ids": unknown})

    def team(self, team_id: UUID) -> Team:
        return self._get(team_id, Team, "team")

    def specialist(self, specialist_id: UUID) -> Specialist:
        return self._get(specialist_id, Specialist, "specialist")

    def service(self, service_id: UUID) -> Service:
        return self._get(service_id, Service, "service")

    def booking(self, booking_id: UUID) -> Booking:
        return self._get(booking_id, Booking, "booking")

    def bookings(self, booking_ids: Sequence[UUID]) -> dict[UUID, Booking]:
        """The bookings among `booking_ids`, in one read of the store; the ids of no
        booking (unknown, or another aggregate's) are absent."""
        found = load_many(self, booking_ids)
        return {key: value for key, value in found.items() if isinstance(value, Booking)}

    def booking_as_requested(self, booking_id: UUID) -> Placed:
        """The booking as it stood when its request was answered (created and confirmed or
        pending), and that answer's position, for replaying it to an idempotent retry."""
        booking: Booking = self.repository.get(booking_id, version=CREATED_VERSION)
        return Placed(booking, notification_id_of(self, booking_id, CREATED_VERSION))

    # --- bookings -------------------------------------------------------------

    def request_booking(
        self,
        service_id: UUID,
        starts_at: datetime,
        client: dict[str, Any],
        answers: dict[str, str],
        notes: str | None,
        now: datetime,
        request: str = "",
        booking_id: UUID | None = None,
        sealer: Sealer | None = None,
    ) -> Placed:
        """Book `starts_at` if the slot rules offer it: confirmed, or pending when the
        service requires approval. A given `booking_id` that already exists returns
        that booking unchanged (the idempotent retry of a request), with no position.
        `request` is the request as canonical text: its digest under the client's key is
        the booking's fingerprint. `sealer` is the client's, when the caller has one."""
        # What this process knew current after this moment decides the request as well as
        # a read would (booking.known_state).
        arrived = monotonic_clock.monotonic()
        seal = sealer or self.sealer(client["email"])

        @functools.cache
        def sealed() -> _SealedRequest:
            """The client's values sealed, once for every attempt. Only an accepted request
            seals, so a refused one reads no key (kairos.privacy.Sealer)."""
            return _SealedRequest(
                client={
                    **client,
                    "name": seal.seal(client["name"]),
                    "email": seal.seal(client["email"]),
                    "phone": seal.seal_optional(client.get("phone")),
                },
                answers={key: seal.seal(value) for key, value in answers.items()},
                notes=seal.seal_optional(notes),
                fingerprint=seal.digest(request) if request else "",
            )

        retry_of_request = booking_id is not None
        booking_id = booking_id or uuid4()

        def book(catalog: _Parties) -> Placed:
            """The request, on the catalog as read in `catalog`."""
            service, team, candidates = catalog.service, catalog.team, catalog.candidates
            rules = service.rules()
            busy = rules.padded(starts_at)
            round_robin = team is not None and service.assignment == "round_robin"
            tally_id = TeamTally.create_id(team.id) if team and round_robin else None

            def place(
                parties: list[Specialist],
                ledgers: dict[UUID, dict[str, DayLedger]],
                tally: TeamTally | None,
            ) -> Placed:
                """Book the time of `parties` (the first is the booking's specialist)."""
                days = {sp.id: self._claim_days(sp, busy, starts_at) for sp in parties}
                lead, *others = parties
                values = sealed()
                booking = Booking(
                    id=booking_id,
                    service_id=service.id,
                    specialist_id=lead.id,
                    starts_at=starts_at,
                    ends_at=starts_at + rules.duration,
                    busy_from=busy.start,
                    busy_until=busy.end,
                    client=values.client,
                    answers=values.answers,
                    notes=values.notes,
                    fingerprint=values.fingerprint,
                    ledger_days=days[lead.id],
                    at=now,
                    team_id=team.id if team else None,
                    co_claims={str(sp.id): days[sp.id] for sp in others} or None,
                )
                if service.terms.requires_approval:
                    booking.hold_for_approval(at=now)
                else:
                    booking.confirm(at=now)
                claimed: list[DayLedger | TeamTally] = [
                    ledger
                    for sp in parties
                    for ledger in self._claim(ledgers[sp.id], booking, sp.id)
                ]
                if tally is not None:
                    tally.assign(booking_id=booking_id, specialist_id=lead.id, at=now)
                    claimed.append(tally)
                recordings = self.save(booking, *claimed)
                return Placed(booking, _position_of(recordings, booking))

            def attempt() -> Placed:
                existing = self._find(booking_id, Booking) if retry_of_request else None
                if existing is not None:
                    return Placed(existing, None)
                # The specialists read above serve every attempt: a lost race is lost on the
                # ledgers, which each attempt reads afresh; no booking changes a specialist.
                # The read of the ledgers also tells whether a catalog read from the cache
                # is current (_CatalogChanged if not).
                members = candidates
                around = self._ledgers_around_all(
                    members, starts_at, service, catalog.versions, arrived
                )
                ledgers = {sp_id: each.ledgers for sp_id, each in around.items()}
                service.check_answers(answers)
                free: list[Specialist] = []
                refused: list[SlotRejected] = []
                for member in members:
                    try:
                        self._check_slot(
                            member,
                            service,
                            ledgers[member.id].values(),
                            starts_at,
                            now,
                            around[member.id].external,
                        )
                        free.append(member)
                    except SlotRejected as rejection:
                        refused.append(rejection)
                # One specialist, or every member of a collective team, must all be free; a
                # round-robin team needs one.
                if refused and (tally_id is None or not free):
                    # A retry racing its own first request finds the slot taken by itself.
                    raced = self._find(booking_id, Booking) if retry_of_request else None
                    if raced is None:
                        raise _most_telling(refused)
                    return Placed(raced, None)
                if tally_id is None or team is None:
                    return place(free, ledgers, None)
                tally = self._find(tally_id, TeamTally) or TeamTally(team_id=team.id)
                first = ranked(team.roster, [sp.id for sp in free], tally.assigned(), now)[0]
                return place([sp for sp in free if sp.id == first], ledgers, tally)

            claims = {sp.id: self._days_around(sp, starts_at, service) for sp in candidates}
            return self._contended_on(claims, attempt, [tally_id] if tally_id else [])

        cached = self._parties(service_id, from_cache=True)
        if cached is not None:
            try:
                return book(cached)
            except _CatalogChanged:
                pass  # changed since this process cached it: book on the current catalog
        current = self._parties(service_id, from_cache=False)
        assert current is not None  # read from the store: found, or NotFound raised
        return book(current)

    def reschedule(self, booking_id: UUID, starts_at: datetime, now: datetime) -> Booking:
        """Move an active booking to another offered start; its old time is free again."""

        current = self._read_only(booking_id, Booking, "booking")
        specialist = self._read_only(current.specialist_id, Specialist, "specialist")
        service = self._read_only(current.service_id, Service, "service")
        days = self._days_around(specialist, starts_at, service).union(current.ledger_days)

        def attempt() -> Booking:
            booking = self.booking(booking_id)
            service = self.service(booking.service_id)
            specialist = self.specialist(booking.specialist_id)
            old = self._ledgers_of(booking)
            ledgers, external = self._ledgers_around(specialist, starts_at, service, loaded=old)
            # The booking page offers times as they stand, the booking's own among the busy
            # ones (stepping restarts after it: ARCHITECTURE's slot rules); a time offered
            # there stays bookable, as does one its own old time frees.
            try:
                self._check_slot(specialist, service, ledgers.values(), starts_at, now, external)
                shown = True
            except SlotRejected:
                shown = False
            for ledger in old.values():
                ledger.release(booking.id)
            if not shown:
                self._check_slot(specialist, service, ledgers.values(), starts_at, now, external)
            rules = service.rules()
            padded = rules.padded(starts_at)
            booking.reschedule(
                starts_at,
                starts_at + rules.duration,
                padded,
                ledger_days=self._claim_days(specialist, padded, starts_at),
                at=now,
            )
            self._claim(ledgers, booking)
            self.save(booking, *(ledger for ledger in ledgers.values() if ledger.pending_events))
            return booking

        return self._contended(specialist.id, days, attempt)

    def reassign(self, booking_id: UUID, specialist_id: UUID, now: datetime) -> Booking:
        """Give a round-robin booking to another member of its team, who must offer its
        time by the slot rules (MemberUnavailable otherwise); its old member's time is free
        again, and the team's tally counts it for the new one."""
        current = self._read_only(booking_id, Booking, "booking")
        if current.team_id is None:
            raise InvalidTeam("only a team booking can be reassigned", {"id": str(booking_id)})
        team = self._read_only(current.team_id, Team, "team")
        if specialist_id not in team.member_ids():
            raise InvalidTeam(
                "that specialist is not a member of the booking's team",
                {"specialist_id": str(specialist_id), "team_id": str(team.id)},
            )
        service = self._read_only(current.service_id, Service, "service")
        member = self._read_only(specialist_id, Specialist, "specialist")
        days = {
            current.specialist_id: current.ledger_days,
            specialist_id: self._days_around(member, current.starts_at, service),
        }

        def attempt() -> Booking:
            booking = self.booking(booking_id)
            if booking.specialist_id == specialist_id:
                return booking
            old = self._ledgers_of(booking)
            for ledger in old.values():
                ledger.release(booking.id)
            member = self.specialist(specialist_id)
            ledgers, external = self._ledgers_around(member, booking.starts_at, service)
            try:
                self._check_slot(
                    member, service, ledgers.values(), booking.starts_at, now, external
                )
            except SlotRejected as rejection:
                raise MemberUnavailable(
                    "that member does not offer the booking's time",
                    {"specialist_id": str(specialist_id), "reason": rejection.code},
                ) from None
            booking.reassign(
                specialist_id,
                self._claim_days(member, booking.busy, booking.starts_at),
                at=now,
            )
            tally = self._find(TeamTally.create_id(team.id), TeamTally)
            if tally is not None:
                tally.reassign(booking.id, specialist_id)
            self.save(
                booking, *old.values(), *self._claim(ledgers, booking), *([tally] if tally else [])
            )
            return booking

        return self._contended_on(days, attempt, [TeamTally.create_id(team.id)])

    def cancel(self, booking_id: UUID, reason: str | None, by: str, now: datetime) -> Booking:
        """Cancel and free the time; cancelling a cancelled booking changes nothing."""

        def attempt() -> Booking:
            booking = self.booking(booking_id)
            service = self.service(booking.service_id)
            if booking.cancel(reason, service.refund_eligible(booking.starts_at, now), by, at=now):
                self._save_releasing(booking)
            return booking

        return self._on_its_ledgers(booking_id, attempt)

    def approve(self, booking_id: UUID, now: datetime) -> Booking:
        return self._changing(booking_id, lambda booking: booking.approve(at=now))

    def decline(self, booking_id: UUID, reason: str | None, now: datetime) -> Booking:

        def attempt() -> Booking:
            booking = self.booking(booking_id)
            booking.decline(reason, at=now)
            self._save_releasing(booking)
            return booking

        return self._on_its_ledgers(booking_id, attempt)

    def start(
        self, booking_id: UUID, now: datetime, waiting_room: timedelta = WAITING_ROOM
    ) -> Booking:
        """The consultation began: confirmed → in_progress, from `waiting_room` before its start."""
        return self._changing(booking_id, lambda booking: booking.start(now, waiting_room))

    def complete(self, booking_id: UUID, now: datetime) -> Booking:
        """Once the consultation has started (or is in progress)."""
        return self._changing(booking_id, lambda booking: booking.complete(at=now))

    def mark_no_show(self, booking_id: UUID, party: str, now: datetime) -> Booking:
        """Once the consultation is `no_show_grace` old and nobody finished it."""
        return self._changing(
            booking_id,
            lambda booking: booking.mark_no_show(party, at=now, grace=self.no_show_grace),
        )

    # --- internals ------------------------------------------------------------

    def _check_slot(
        self,
        specialist: Specialist,
        service: Service,
        ledgers: Iterable[DayLedger],
        starts_at: datetime,
        now: datetime,
        external: list[Interval] | None = None,
    ) -> None:
        """SlotRejected unless the slot rules offer `starts_at` against the claims on
        `ledgers` and the specialist's `external` busy time over _reach (read here if
        None: only when the claims alone leave the start open, as more busy time never
        turns "taken" into anything else, so a storm's losers don't read it)."""
        tz = zone(specialist.timezone)
        day = local_date(starts_at, tz)
        rules = service.rules()
        reach = self._reach(specialist, starts_at, service)

        def check(external: list[Interval] | None) -> Rejection | None:
            busy, per_day = self._taken(specialist.id, service, ledgers, tz, reach, external)
            hours = specialist.working_hours()
            return check_start(hours, rules, busy, {day: per_day[day]}, starts_at, now)

        rejection = check([]) if external is None else None
        if rejection is not Rejection.SLOT_UNAVAILABLE:
            rejection = check(external)
        if rejection is not None:
            raise SlotRejected(rejection, {"starts_at": iso_utc(starts_at)})

    def _taken(
        self,
        specialist_id: UUID,
        service: Service,
        ledgers: Iterable[DayLedger],
        tz: ZoneInfo,
        reach: Interval,
        external: list[Interval] | None = None,
    ) -> tuple[list[Interval], Counter[date]]:
        """What the slot rules weigh against a specialist's time: the busy intervals of the
        claims on `ledgers` and of their external calendars over `reach` (`external`, or
        read here if None), and how many bookings of `service` each local date (in `tz`)
        holds, counted only when its rules cap the day (the slot rules read the count for
        nothing else). A booking's claim stands in each ledger it touches: it counts once."""
        claims = {booking: claim for ledger in ledgers for booking, claim in ledger.claims.items()}
        busy = [claim.busy for claim in claims.values()]
        if external is not None:
            busy += external
        elif self.external_busy is not None:
            busy += self.external_busy(specialist_id, reach.start, reach.end)
        per_day: Counter[date] = Counter()
        if service.rules().max_per_day is not None:
            per_day.update(
                local_date(claim.starts_at, tz)
                for claim in claims.values()
                if claim.service_id == service.id
            )
        return busy, per_day

    def _days_around(
        self, specialist: Specialist, starts_at: datetime, service: Service
    ) -> frozenset[str]:
        """The UTC dates of every ledger whose claims can decide whether `starts_at` is
        offered: those the start's local day touches, widened by the service's buffers
        (a slot's padding reaches that far), and those the booking would claim."""
        padded = service.rules().padded(starts_at)
        reach = self._reach(specialist, starts_at, service)
        return _utc_days(reach).union(self._claim_days(specialist, padded, starts_at))

    @staticmethod
    def _reach(specialist: Specialist, starts_at: datetime, service: Service) -> Interval:
        """How far busy time can decide whether `starts_at` is offered: the start's local
        day, widened by the service's buffers (a slot's padding reaches that far)."""
        rules = service.rules()
        local_day = _local_day(starts_at, zone(specialist.timezone))
        return Interval(local_day.start - rules.buffer_before, local_day.end + rules.buffer_after)

    def _ledgers_around(
        self,
        specialist: Specialist,
        starts_at: datetime,
        service: Service,
        loaded: dict[str, DayLedger] | None = None,
        current: Mapping[UUID, int] = MappingProxyType({}),
        since: float | None = None,
    ) -> _Around:
        """The ledgers of `_days_around`, as stored now (or new and empty), read in the
        statement that checks the aggregates of `current` are still at the versions given
        (_CatalogChanged if not) and reads the specialist's external busy time over
        _reach. With `since`, ledgers and versions this process knew current after that
        moment are not read again (booking.known_state; the external busy time is then
        left to the slot check)."""
        days = self._days_around(specialist, starts_at, service)
        ledgers = dict(loaded or {})
        wanted = {
            DayLedger.create_id(specialist.id, day): day for day in days if day not in ledgers
        }
        known = {ledger_id: self.known.get(ledger_id) for ledger_id in wanted}
        if since is not None and self.known.confirmed(current, since):
            fresh = {k.ledger.id: k.ledger for k in known.values() if k and k.at >= since}
            if len(fresh) == len(wanted):
                ledgers.update({day: fresh[ledger_id] for ledger_id, day in wanted.items()})
                return _Around(ledgers, None)
        reach = self._reach(specialist, starts_at, service)
        busy = BusyWindow(specialist.id, reach.start, reach.end) if self.external_busy else None
        after = {ledger_id: k.version if k else 0 for ledger_id, k in known.items()}
        read_at = monotonic_clock.monotonic()
        read = read_since(self, after, current, busy)
        if read.changed:
            raise _CatalogChanged()
        self.known.confirm(current, read_at)
        stored = []
        for ledger_id, day in wanted.items():
            k = known[ledger_id]
            ledger = folded(k.ledger if k else None, read.events.get(ledger_id, []))
            if ledger is None:
                ledger = DayLedger(specialist_id=specialist.id, day=day)
            else:
                stored.append(ledger)
            ledgers[day] = ledger
        self.known.remember(stored, read_at)
        return _Around(ledgers, read.busy)

    @staticmethod
    def _claim_days(specialist: Specialist, padded: Interval, starts_at: datetime) -> list[str]:
        """The UTC dates a booking claims: those its padded interval touches (so overlapping
        bookings meet) and those its local day touches (so per-day limits are exact)."""
        local_day = _local_day(starts_at, zone(specialist.timezone))
        return sorted(_utc_days(padded) | _utc_days(local_day))

    def _ledgers_around_all(
        self,
        specialists: list[Specialist],
        starts_at: datetime,
        service: Service,
        current: Mapping[UUID, int],
        since: float,
    ) -> dict[UUID, _Around]:
        """`_ledgers_around` of each specialist (a team's members), by specialist; the
        first read also checks `current` (see _ledgers_around)."""
        return {
            sp.id: self._ledgers_around(
                sp, starts_at, service, current=current if i == 0 else {}, since=since
            )
            for i, sp in enumerate(specialists)
        }

    def _ledgers_of(self, booking: Booking) -> dict[str, DayLedger]:
        """The ledgers holding this booking's claim on its specialist's time."""
        ids = {DayLedger.create_id(booking.specialist_id, day): day for day in booking.ledger_days}
        return {ids[ledger_id]: ledger for ledger_id, ledger in load_many(self, list(ids)).items()}

    def _all_ledgers_of(self, booking: Booking) -> list[DayLedger]:
        """The ledgers holding this booking's claims on every specialist's time it holds."""
        ids = [DayLedger.create_id(sp, day) for sp, days in booking.claims.items() for day in days]
        return list(load_many(self, ids).values())

    @staticmethod
    def _claim(
        ledgers: dict[str, DayLedger], booking: Booking, specialist_id: UUID | None = None
    ) -> list[DayLedger]:
        """Claim the booking's time on the ledgers of its specialist (or of another of the
        specialists it holds: a collective booking's members)."""
        touched = [ledgers[day] for day in booking.claims[specialist_id or booking.specialist_id]]
        for ledger in touched:
            ledger.claim(
                booking_id=booking.id,
                service_id=booking.service_id,
                starts_at=booking.starts_at,
                busy_from=booking.busy_from,
                busy_until=booking.busy_until,
            )
        return touched

    def _save_releasing(self, booking: Booking) -> None:
        """Save a booking that gave its time back, with the ledgers it released."""
        ledgers = self._all_ledgers_of(booking)
        for ledger in ledgers:
            ledger.release(booking.id)
        self.save(booking, *ledgers)

    def _contended(self, specialist_id: UUID, days: Iterable[str], attempt: Callable[[], T]) -> T:
        return self._contended_on({specialist_id: days}, attempt)

    def _contended_on(
        self,
        days: Mapping[UUID, Iterable[str]],
        attempt: Callable[[], T],
        others: Iterable[UUID] = (),
    ) -> T:
        """Run a load-check-save command on these ledger days of each specialist (and the
        `others` aggregates it saves, a team's tally) until it is decided
        (booking.contention). The aggregate cache fast-forwards on every load, so a retry
        sees the winner's events, and a real clash fails its check there."""
        ledger_ids = [DayLedger.create_id(sp, day) for sp, ds in days.items() for day in ds]
        return self.contention.run([*ledger_ids, *others], attempt)

    def _on_its_ledgers(self, booking_id: UUID, attempt: Callable[[], T]) -> T:
        """A command that releases the booking's claims, contended on the ledgers holding them."""
        booking = self._read_only(booking_id, Booking, "booking")
        return self._contended_on(booking.claims, attempt)

    def _changing(self, booking_id: UUID, command: Callable[[Booking], None]) -> Booking:
        """Apply a command that touches the booking alone; a concurrent change to the same
        booking makes it run again on the new state, where its status check decides."""

        def attempt() -> Booking:
            booking = self.booking(booking_id)
            command(booking)
            self.save(booking)
            return booking

        return self.contention.run([], attempt)

    def _parties(self, service_id: UUID, from_cache: bool) -> _Parties | None:
        """A booking request's service, its team and the specialists who may take it: read
        from the store, or `from_cache` as this process last read them, unchecked (None if
        it has not read one of them), with their versions for the read of the ledgers to
        check (a booking request reads no more of the catalog than that)."""

        def read(aggregate_id: UUID, kind: type[T], noun: str) -> T | None:
            if from_cache:
                return self._cached(aggregate_id, kind)
            return self._read_only(aggregate_id, kind, noun)

        service = read(service_id, Service, "service")
        if service is None:
            return None
        team = read(service.team_id, Team, "team") if service.team_id else None
        if team is not None:
            owners = team.member_ids()
        elif service.team_id is not None:
            return None
        else:
            assert service.specialist_id is not None  # a service has a specialist or a team
            owners = [service.specialist_id]
        candidates = [read(owner, Specialist, "specialist") for owner in owners]
        specialists = [sp for sp in candidates if sp is not None]
        if len(specialists) < len(candidates):
            return None
        aggregates = [service, *([team] if team else []), *specialists]
        versions = {a.id: a.version for a in aggregates} if from_cache else {}
        return _Parties(service, team, specialists, versions)

    def _cached(self, aggregate_id: UUID, kind: type[T]) -> T | None:
        """This process's cached copy of an aggregate as it stands (not fast-forwarded)."""
        cache = self.repository.cache
        if cache is None:
            return None
        try:
            aggregate: Any = cache.get(aggregate_id)
        except KeyError:
            return None
        return aggregate if isinstance(aggregate, kind) else None

    def _read_only(self, aggregate_id: UUID, kind: type[T], noun: str) -> T:
        """A cached aggregate the caller promises not to change (skips the defensive copy)."""
        return self._get(aggregate_id, kind, noun, copy=False)

    def _find(self, aggregate_id: UUID, kind: type[T], copy: bool = True) -> T | None:
        try:
            aggregate: Any = self.repository.get(aggregate_id, deepcopy_from_cache=copy)
        except AggregateNotFoundError:
            return None
        return aggregate if isinstance(aggregate, kind) else None

    def _get(self, aggregate_id: UUID, kind: type[T], noun: str, copy: bool = True) -> T:
        found = self._find(aggregate_id, kind, copy)
        if found is None:
            raise NotFound(f"no {noun} with id {aggregate_id}", {"id": str(aggregate_id)})
        return found


class _Parties(NamedTuple):
    """What a booking request reads of the catalog; `versions` are those of the
    aggregates it read from the process's cache, still to be checked against the store."""

    service: Service
    team: Team | None
    candidates: list[Specialist]
    versions: dict[UUID, int]


class _Around(NamedTuple):
    """A specialist's ledgers around a start, by UTC date, and their external busy time
    over the start's _reach when the same read brought it (None: not read yet)."""

    ledgers: dict[str, DayLedger]
    external: list[Interval] | None


class _CatalogChanged(Exception):
    """A cached aggregate that a command read has changed in the store since."""


class _SealedRequest(NamedTuple):
    """A booking request's personal values as the Booking keeps them."""

    client: dict[str, Any]
    answers: dict[str, Any]
    notes: Any
    fingerprint: str


class _Unsealed:
    """A Sealer's stand-in for a Bookings without PersonalData: keeps values as given."""

    def seal(self, value: str) -> str:
        return value

    def seal_optional(self, value: str | None) -> str | None:
        return value

    def digest(self, text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()
