"""The booking service layer, told as scenarios through `Bookings` with a frozen `now`.

Every test runs twice: on the in-memory store and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.popo import POPOApplicationRecorder

from booking.application import Bookings, NotFound, SlotRejected
from booking.contention import Busy
from booking.domain import (
    Booking,
    DayLedger,
    EmailTaken,
    InvalidState,
    MissingAnswer,
    Service,
)
from kairos.eventstore import postgres_env
from kairos.timezones import UnknownTimezone
from tests.booking.helpers import service_terms

MONDAY = date(2026, 3, 9)
NOW = datetime(2026, 3, 2, tzinfo=UTC)
CLIENT = {"name": "Ada Lovelace", "email": "ada@example.org", "timezone": "Europe/London"}
NINE_TO_FIVE = {day: [[9 * 60, 17 * 60]] for day in range(5)}


def at(hour: int, minute: int = 0, day: date = MONDAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class Store:
    """Opens `Bookings` applications on one event store."""

    kind: str
    env: dict[str, str]
    opened: list[Bookings] = field(default_factory=list)

    def open(self, cls: type[Bookings] = Bookings, **options: Any) -> Bookings:
        app = cls(env=self.env, **options)
        self.opened.append(app)
        return app


@pytest.fixture(scope="module")
def application_database(module_databases: Callable[[], str]) -> str:
    """One database for the module's PostgreSQL runs: every scenario has its own specialist."""
    return module_databases()


@pytest.fixture(
    params=[
        pytest.param("memory", marks=pytest.mark.unit),
        pytest.param("postgres", marks=pytest.mark.integration),
    ]
)
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    if request.param == "memory":
        store = Store("memory", {})
    else:
        database: str = request.getfixturevalue("application_database")
        store = Store("postgres", postgres_env(database))
    yield store
    for app in store.opened:
        app.close()


@pytest.fixture
def app(store: Store) -> Bookings:
    app = store.open()
    if store.kind == "memory":
        assert isinstance(app.recorder, POPOApplicationRecorder), "Bookings() is not in memory"
    return app


@dataclass
class Practice:
    """One specialist with a schedule, in one application."""

    app: Bookings
    specialist_id: UUID

    def service(self, **fields: Any) -> Service:
        return self.app.define_service(self.specialist_id, service_terms(**fields))

    def book(
        self, service: Service, starts_at: datetime, now: datetime = NOW, **kwargs: Any
    ) -> Booking:
        kwargs.setdefault("client", CLIENT)
        kwargs.setdefault("answers", {})
        kwargs.setdefault("notes", None)
        return self.app.request_booking(service.id, starts_at, now=now, **kwargs).booking

    def refused(self, service: Service, starts_at: datetime, now: datetime = NOW) -> str:
        """The error code a booking at `starts_at` is refused with."""
        with pytest.raises(SlotRejected) as refusal:
            self.book(service, starts_at, now)
        return refusal.value.code

    def ledger(self, day: date = MONDAY) -> DayLedger:
        ledger = self.app.repository.get(DayLedger.create_id(self.specialist_id, day.isoformat()))
        assert isinstance(ledger, DayLedger)
        return ledger


def practice(
    app: Bookings, timezone: str = "UTC", weekly: dict[int, list[list[int]]] | None = None
) -> Practice:
    email = f"grey-{uuid4().hex[:8]}@example.org"  # one specialist per address
    specialist_id = app.register_specialist("Dr. Grey", email, timezone)
    app.set_schedule(specialist_id, None, NINE_TO_FIVE if weekly is None else weekly)
    return Practice(app, specialist_id)


# --- the happy path -------------------------------------------------------------------------


def test_a_free_offered_slot_is_confirmed_at_once(app: Bookings) -> None:
    p = practice(app)
    sv = p.service(duration_minutes=45)

    placed = app.request_booking(sv.id, at(9, 45), CLIENT, {}, "first time", now=NOW)

    booking = app.booking(placed.booking.id)
    assert placed.position is not None
    assert booking.status == "confirmed"
    assert (booking.starts_at, booking.ends_at) == (at(9, 45), at(10, 30))
    assert booking.specialist_id == p.specialist_id
    assert booking.history == [("confirmed", NOW)]
    assert list(p.ledger().claims) == [str(booking.id)]


def test_a_service_requiring_approval_makes_pending_bookings_that_can_be_approved(
    app: Bookings,
) -> None:
    p = practice(app)
    sv = p.service(requires_approval=True)
    booking = p.book(sv, at(9))
    assert app.booking(booking.id).status == "pending"

    app.approve(booking.id, now=NOW + timedelta(hours=1))

    assert app.booking(booking.id).history == [
        ("pending", NOW),
        ("confirmed", NOW + timedelta(hours=1)),
    ]


def test_a_confirmed_booking_can_be_completed_or_marked_as_a_no_show(app: Bookings) -> None:
    p = practice(app)
    sv = p.service()
    done, missed = p.book(sv, at(9)), p.book(sv, at(10))

    app.complete(done.id, now=at(10))
    app.mark_no_show(missed.id, "client", now=at(10, 20))

    assert app.booking(done.id).status == "completed"
    assert (app.booking(missed.id).status, app.booking(missed.id).no_show_party) == (
        "no_show",
        "client",
    )
    with pytest.raises(InvalidState):
        app.approve(done.id, now=at(11))


# --- every rule, refused with its code -------------------------------------------------------


def test_a_start_outside_working_hours_is_refused_as_outside_availability(app: Bookings) -> None:
    p = practice(app)
    sv = p.service()

    assert p.refused(sv, at(8)) == "outside_availability"
    assert p.refused(sv, at(16, 30)) == "outside_availability"
    assert p.refused(sv, at(10, day=MONDAY + timedelta(days=5))) == "outside_availability"
    assert p.refused(sv, at(9, 30)) == "outside_availability"  # inside, but off the slot grid


def test_a_slot_rejection_carries_its_http_status(app: Bookings) -> None:
    p = practice(app)
    sv = p.service()
    p.book(sv, at(9))

    with pytest.raises(SlotRejected) as outside:
        p.book(sv, at(8))
    with pytest.raises(SlotRejected) as taken:
        p.book(sv, at(9))

    assert (outside.value.code, outside.value.status) == ("outside_availability", 422)
    assert (taken.value.code, taken.value.status) == ("slot_unavailable", 409)


def test_a_blocked_override_refuses_its_date_until_it_is_cleared(app: Bookings) -> None:
    p = practice(app)
    sv = p.service()
    app.set_override(p.specialist_id, MONDAY, [])

    assert p.refused(sv, at(10)) == "outside_availability"
    assert p.book(sv, at(10, day=MONDAY + timedelta(days=1))).status == "confirmed"

    app.clear_override(p.specialist_id, MONDAY)
    assert p.book(sv, at(10)).status == "confirmed"


def test_an_override_with_its_own_windows_replaces_the_weekly_hours(app: Bookings) -> None:
    p = practice(app)
    sv = p.service()
    app.set_override(p.specialist_id, MONDAY, [[18 * 60, 20 * 60]])

    assert p.refused(sv, at(10)) == "outside_availability"
    assert p.book(sv, at(19)).status == "confirmed"


def test_a_start_inside_the_minimum_notice_is_refused_as_too_soon(app: Bookings) -> None:
    p = practice(app)
    sv = p.service(minimum_notice_minutes=24 * 60)
    sunday_noon = at(12, day=MONDAY - timedelta(days=1))

    assert p.refused(sv, at(9), now=sunday_noon) == "too_soon"
    assert p.refused(sv, at(9), now=at(10)) == "too_soon"  # in the past
    assert p.book(sv, at(12), now=sunday_noon).status == "confirmed"


def test_a_start_beyond_the_max_advance_is_refused_as_too_far(app: Bookings) -> None:
    p = practice(app)
    sv = p.service(max_advance_days=7)

    assert p.refused(sv, at(9), now=at(8, 59, day=MONDAY - timedelta(days=7))) == "too_far"
    assert p.book(sv, at(9), now=at(9, day=MONDAY - timedelta(days=7))).status == "confirmed"


def test_a_day_holding_max_per_day_bookings_is_day_full_until_one_is_cancelled(
    app: Bookings,
) -> None:
    p = practice(app)
    sv = p.service(max_per_day=2)
    other = p.service(name="Short call", duration_minutes=30)
    first = p.book(sv, at(9))
    p.book(sv, at(11))

    assert p.refused(sv, at(14)) == "day_full"
    assert p.book(other, at(14)).status == "confirmed"  # the limit is per service
    assert p.book(sv, at(14, day=MONDAY + timedelta(days=1))).status == "confirmed"

    app.cancel(first.id, None, by="client", now=NOW)
    assert p.book(sv, at(9)).status == "confirmed"


def test_buffers_of_both_bookings_add_up_and_the_first_free_slot_comes_right_after(
    app: Bookings,
) -> None:
    # The existing booking keeps 5 minutes before and 15 after it: busy 09:55-11:15.
    # The new service needs 10 minutes before and after each 30 minute slot.
    p = practice(app)
    long = p.service(duration_minutes=60, buffer_before_minutes=5, buffer_after_minutes=15)
    short = p.service(duration_minutes=30, buffer_before_minutes=10, buffer_after_minutes=10)
    p.book(long, at(10))

    assert p.refused(short, at(9, 30)) == "slot_unavailable"  # its after-buffer meets 09:55
    assert p.refused(short, at(11, 15)) == "slot_unavailable"
    assert p.refused(short, at(11, 20)) == "slot_unavailable"
    assert p.book(short, at(9)).status == "confirmed"  # busy 08:50-09:40 clears 09:55
    assert p.book(short, at(11, 25)).status == "confirmed"  # 11:15 + 10, the first free start


def test_a_missing_required_answer_is_refused_and_claims_nothing(app: Bookings) -> None:
    p = practice(app)
    sv = p.service(
        questions=[
            {"key": "reason", "label": "Reason", "type": "text", "required": True, "options": None},
            {
                "key": "kind",
                "label": "Kind",
                "type": "select",
                "required": False,
                "options": ["new", "follow-up"],
            },
        ]
    )

    with pytest.raises(MissingAnswer) as missing:
        p.book(sv, at(9), answers={})
    with pytest.raises(MissingAnswer):
        p.book(sv, at(9), answers={"reason": "back pain", "kind": "urgent"})

    assert missing.value.code == "missing_answer"
    assert p.book(sv, at(9), answers={"reason": "back pain"}).status == "confirmed"


def test_a_pending_booking_holds_its_slot(app: Bookings) -> None:
    p = practice(app)
    sv = p.service(requires_approval=True)
    p.book(sv, at(9))

    assert p.refused(sv, at(9)) == "slot_unavailable"


def test_a_declined_booking_gives_its_slot_back(app: Bookings) -> None:
    p = practice(app)
    sv = p.service(requires_approval=True)
    first = p.book(sv, at(9))

    app.decline(first.id, "on leave", now=NOW)

    assert app.booking(first.id).status == "declined"
    assert p.book(sv, at(9)).status == "pending"


def test_a_cancelled_booking_gives_its_slot_back(app: Bookings) -> None:
    p = practice(app)
    sv = p.service()
    first = p.book(sv, at(9))

    app.cancel(first.id, "ill", by="client", now=NOW)

    assert app.booking(first.id).status == "cancelled"
    assert p.book(sv, at(9)).status == "confirmed"
    assert list(p.ledger().claims) != [str(first.id)]


def test_cancelling_twice_records_nothing_new(app: Bookings) -> None:
    p = practice(app)
    booking = p.book(p.service(), at(9))
    app.cancel(booking.id, "ill", by="client", now=NOW)
    version = app.booking(booking.id).version

    again = app.cancel(booking.id, "still ill", by="admin", now=NOW + timedelta(days=6))

    assert again.status == "cancelled"
    assert app.booking(booking.id).version == version
    assert app.booking(booking.id).refund_eligible is True


@pytest.mark.parametrize(("hours_before", "refund"), [(25, True), (24, True), (23, False)])
def test_a_refund_is_due_when_cancelled_at_least_cancellation_hours_ahead(
    app: Bookings, hours_before: int, refund: bool
) -> None:
    p = practice(app)
    booking = p.book(p.service(cancellation_hours=24), at(12))

    cancelled = app.cancel(
        booking.id, None, by="client", now=at(12) - timedelta(hours=hours_before)
    )

    assert cancelled.refund_eligible is refund


def test_rescheduling_frees_the_old_slot_claims_the_new_one_and_keeps_the_id(
    app: Bookings,
) -> None:
    p = practice(app)
    sv = p.service()
    booking = p.book(sv, at(9))

    moved = app.reschedule(booking.id, at(14, day=MONDAY + timedelta(days=1)), now=NOW)

    assert moved.id == booking.id
    reloaded = app.booking(booking.id)
    assert (reloaded.starts_at, reloaded.ends_at) == (
        at(14, day=MONDAY + timedelta(days=1)),
        at(15, day=MONDAY + timedelta(days=1)),
    )
    assert p.book(sv, at(9)).status == "confirmed"
    assert p.refused(sv, at(14, day=MONDAY + timedelta(days=1))) == "slot_unavailable"
    assert str(booking.id) not in p.ledger(MONDAY).claims
    assert str(booking.id) in p.ledger(MONDAY + timedelta(days=1)).claims


def test_rescheduling_may_move_a_booking_into_its_own_old_time(app: Bookings) -> None:
    p = practice(app)
    sv = p.service(slot_interval_minutes=15)
    booking = p.book(sv, at(9))

    app.reschedule(booking.id, at(9, 30), now=NOW)

    assert app.booking(booking.id).starts_at == at(9, 30)
    assert p.refused(sv, at(10)) == "slot_unavailable"
    assert p.book(sv, at(10, 30)).status == "confirmed"


def test_rescheduling_to_a_time_offered_after_the_booking_itself_is_accepted(
    app: Bookings,
) -> None:
    # Slots step hourly from 9:00; the booking at 9:00-9:30 restarts the stepping at 9:30,
    # so the booking page offers 10:30 — off the grid the day has without the booking.
    p = practice(app)
    sv = p.service(duration_minutes=30, slot_interval_minutes=60)
    booking = p.book(sv, at(9))

    app.reschedule(booking.id, at(10, 30), now=NOW)

    assert app.booking(booking.id).starts_at == at(10, 30)
    assert p.book(sv, at(9)).status == "confirmed"  # its old time is free again


def test_rescheduling_onto_a_taken_slot_is_refused_and_keeps_the_old_slot(app: Bookings) -> None:
    p = practice(app)
    sv = p.service()
    mine, theirs = p.book(sv, at(9)), p.book(sv, at(11))

    with pytest.raises(SlotRejected) as refusal:
        app.reschedule(mine.id, at(11), now=NOW)

    assert refusal.value.code == "slot_unavailable"
    assert app.booking(mine.id).starts_at == at(9)
    assert p.refused(sv, at(9)) == "slot_unavailable"
    assert {str(mine.id), str(theirs.id)} == set(p.ledger().claims)


@pytest.mark.parametrize("rule", ["outside_availability", "too_soon"])
def test_rescheduling_follows_the_same_rules_as_booking(app: Bookings, rule: str) -> None:
    p = practice(app)
    sv = p.service(minimum_notice_minutes=60)
    booking = p.book(sv, at(12))
    target, now = (at(8), NOW) if rule == "outside_availability" else (at(10), at(9, 30))

    with pytest.raises(SlotRejected) as refusal:
        app.reschedule(booking.id, target, now=now)

    assert refusal.value.code == rule


def test_a_cancelled_booking_cannot_be_rescheduled(app: Bookings) -> None:
    p = practice(app)
    booking = p.book(p.service(), at(9))
    app.cancel(booking.id, None, by="client", now=NOW)

    with pytest.raises(InvalidState) as refusal:
        app.reschedule(booking.id, at(11), now=NOW)
    assert refusal.value.code == "invalid_state"


def test_the_same_booking_id_twice_is_the_same_booking_with_one_ledger_claim(
    app: Bookings,
) -> None:
    p = practice(app)
    sv = p.service()
    booking_id = uuid4()
    first = app.request_booking(sv.id, at(9), CLIENT, {}, None, now=NOW, booking_id=booking_id)
    ledger_version = p.ledger().version

    again = app.request_booking(
        sv.id, at(9), CLIENT, {}, None, now=NOW + timedelta(minutes=1), booking_id=booking_id
    )

    assert first.booking.id == again.booking.id == booking_id
    assert first.position is not None
    assert again.position is None
    assert again.booking.history == [("confirmed", NOW)]
    assert list(p.ledger().claims) == [str(booking_id)]
    assert p.ledger().version == ledger_version


def test_a_retry_racing_the_first_request_of_its_booking_id_returns_that_booking(
    store: Store,
) -> None:
    class Interleaved(Bookings):
        """Lets another request finish between this one's id look-up and its slot check,
        as happens when two processes answer the same Idempotency-Key."""

        name = Bookings.name  # the same event store tables
        meanwhile: Callable[[], Any] | None = None

        def _ledgers_around(self, *args: Any, **kwargs: Any) -> dict[str, DayLedger]:
            if self.meanwhile is not None:
                run, self.meanwhile = self.meanwhile, None
                run()
            return super()._ledgers_around(*args, **kwargs)

    app = store.open(Interleaved)
    assert isinstance(app, Interleaved)
    other = store.open() if store.kind == "postgres" else app
    p = practice(app)
    sv = p.service()
    booking_id = uuid4()
    app.meanwhile = lambda: other.request_booking(
        sv.id, at(9), CLIENT, {}, None, now=NOW, booking_id=booking_id
    )

    placed = app.request_booking(sv.id, at(9), CLIENT, {}, None, now=NOW, booking_id=booking_id)

    assert placed.booking.id == booking_id
    assert list(p.ledger().claims) == [str(booking_id)]


class Outpaced(Bookings):
    """Another process (`rival`) saves a booking of the same day between this one's loading
    of the day's ledgers and its save, `losses` times: each of those saves loses the race."""

    name = Bookings.name  # the same event store tables
    losses = 0
    rival: Callable[[], Any] = staticmethod(lambda: None)

    def _ledgers_around(self, *args: Any, **kwargs: Any) -> dict[str, DayLedger]:
        ledgers = super()._ledgers_around(*args, **kwargs)
        if self.losses > 0:
            self.losses -= 1
            self.rival()
        return ledgers


@pytest.fixture
def two_processes(application_database: str) -> Iterator[Store]:
    """Two applications on one PostgreSQL store, as two booking processes are."""
    store = Store("postgres", postgres_env(application_database))
    yield store
    for app in store.opened:
        app.close()


def outpaced(
    store: Store, rival_books: Callable[[Practice, Service], Any], losses: int, **options: Any
) -> tuple[Outpaced, Practice, Service]:
    """An Outpaced application, the rival's practice and service; before each of the first
    `losses` saves of the application, `rival_books(practice, service)` runs."""
    app = store.open(Outpaced, **options)
    assert isinstance(app, Outpaced)
    rival = practice(store.open())
    sv = rival.service()
    app.losses = losses
    app.rival = lambda: rival_books(rival, sv)
    return app, rival, sv


@pytest.mark.integration
def test_a_free_slot_is_booked_however_many_races_for_its_day_the_request_loses(
    two_processes: Store,
) -> None:
    # Six lost races: one more than the attempts that used to end in a false 409.
    others = iter(at(hour) for hour in range(9, 15))
    app, rival, sv = outpaced(two_processes, lambda p, sv: p.book(sv, next(others)), losses=6)

    placed = app.request_booking(sv.id, at(16), CLIENT, {}, None, now=NOW)

    assert app.losses == 0 and next(others, None) is None  # it did lose six times
    assert app.booking(placed.booking.id).status == "confirmed"
    assert len(rival.ledger().claims) == 7


@pytest.fixture
def cached_processes(application_database: str) -> Iterator[Store]:
    """Two applications on one PostgreSQL store with aggregate caches, as the service's
    processes have: a booking request reads its catalog from the cache and checks it is
    current in its read of the ledgers."""
    store = Store("postgres", postgres_env(application_database, AGGREGATE_CACHE_MAXSIZE="100"))
    yield store
    for app in store.opened:
        app.close()


@pytest.mark.integration
def test_a_booking_follows_a_schedule_another_process_changed_after_this_one_cached_it(
    cached_processes: Store,
) -> None:
    here = practice(cached_processes.open())
    there = Practice(cached_processes.open(), here.specialist_id)
    sv = here.service()
    here.book(sv, at(9))  # caches the specialist and the service here

    there.app.set_override(here.specialist_id, MONDAY, [[12 * 60, 14 * 60]])

    assert here.refused(sv, at(10)) == "outside_availability"
    assert here.book(sv, at(12)).status == "confirmed"
    # The cache here is current again: what is offered is the new hours' alone.
    assert here.refused(sv, at(15)) == "outside_availability"


@pytest.mark.integration
def test_a_booking_follows_a_service_another_process_changed_after_this_one_cached_it(
    cached_processes: Store,
) -> None:
    here = practice(cached_processes.open())
    there = cached_processes.open()
    sv = here.service(duration_minutes=30)
    here.book(sv, at(9))

    there.update_service(sv.id, {"duration_minutes": 60})

    booking = here.book(sv, at(10, day=MONDAY + timedelta(days=1)))
    assert booking.ends_at - booking.starts_at == timedelta(minutes=60)


@pytest.mark.integration
def test_a_request_that_loses_the_race_to_its_own_slot_is_refused_on_the_new_state(
    two_processes: Store,
) -> None:
    app, rival, sv = outpaced(two_processes, lambda p, sv: p.book(sv, at(10)), losses=1)

    with pytest.raises(SlotRejected) as refused:
        app.request_booking(sv.id, at(10), CLIENT, {}, None, now=NOW)

    assert (refused.value.code, refused.value.status) == ("slot_unavailable", 409)
    assert len(rival.ledger().claims) == 1


@pytest.mark.integration
def test_a_request_still_losing_races_when_its_time_is_up_is_busy_not_slot_unavailable(
    two_processes: Store,
) -> None:
    app, rival, sv = outpaced(
        two_processes, lambda p, sv: p.book(sv, at(9)), losses=1, contention_timeout=timedelta(0)
    )

    with pytest.raises(Busy) as busy:
        app.request_booking(sv.id, at(16), CLIENT, {}, None, now=NOW)

    assert (busy.value.code, busy.value.status) == ("busy", 503)
    assert busy.value.details == {"retry_after_seconds": 1}
    assert len(rival.ledger().claims) == 1  # the rival's; nothing of the busy request
    assert app.request_booking(sv.id, at(16), CLIENT, {}, None, now=NOW).booking.status == (
        "confirmed"
    )


def test_a_booking_process_follows_catalog_changes_another_process_made(store: Store) -> None:
    """Each process keeps the services and specialists it booked against; a change saved
    by another process must still decide its next booking."""
    booker = store.open()
    editor = store.open() if store.kind == "postgres" else booker
    p = practice(booker)
    sv = p.service()
    assert p.book(sv, at(9)).status == "confirmed"  # the booker now holds both

    editor.set_override(p.specialist_id, MONDAY, [])
    assert p.refused(sv, at(10)) == "outside_availability"
    editor.clear_override(p.specialist_id, MONDAY)
    assert p.book(sv, at(10)).status == "confirmed"

    editor.update_service(sv.id, {"buffer_before_minutes": 30})
    assert p.refused(sv, at(11)) == "slot_unavailable"  # its buffer now reaches 10:00-11:00
    assert p.book(sv, at(11, 30)).status == "confirmed"

    # Nine to five in New York (EDT since the day before) is 13:00-21:00 UTC that Monday:
    # the old hours are gone, the new ones checked against the new local day's ledgers.
    editor.set_schedule(p.specialist_id, "America/New_York", NINE_TO_FIVE)
    assert p.refused(sv, at(12)) == "outside_availability"
    assert p.book(sv, at(20)).status == "confirmed"
    assert p.refused(sv, at(20)) == "slot_unavailable"


def test_a_booking_late_in_the_evening_keeps_its_buffer_past_midnight(app: Bookings) -> None:
    p = practice(app, weekly={0: [[22 * 60, 24 * 60]], 1: [[0, 2 * 60]]})
    sv = p.service(buffer_after_minutes=30)
    tuesday = MONDAY + timedelta(days=1)
    late = p.book(sv, at(23))

    assert p.refused(sv, at(0, day=tuesday)) == "slot_unavailable"
    assert p.book(sv, at(0, 30, day=tuesday)).status == "confirmed"
    assert str(late.id) in p.ledger(tuesday).claims


def test_unknown_ids_are_not_found(app: Bookings) -> None:
    p = practice(app)
    for lookup in (app.specialist, app.service, app.booking):
        with pytest.raises(NotFound) as missing:
            lookup(uuid4())
        assert (missing.value.code, missing.value.status) == ("not_found", 404)
    with pytest.raises(NotFound):
        app.request_booking(uuid4(), at(9), CLIENT, {}, None, now=NOW)
    with pytest.raises(NotFound):  # a service is not a booking, though both have ids
        app.booking(p.service().id)


def test_a_specialist_in_an_unknown_zone_is_refused(app: Bookings) -> None:
    with pytest.raises(UnknownTimezone):
        app.register_specialist("X", "x@example.org", "Europe/Atlantis")


def test_an_email_address_registers_one_specialist_whatever_its_case(app: Bookings) -> None:
    first = app.register_specialist("Dr. Grey", "same@example.org", "UTC")

    with pytest.raises(EmailTaken):
        app.register_specialist("Dr. Other", "Same@EXAMPLE.org", "UTC")

    assert app.specialist(first).email == "same@example.org"
    assert app.register_specialist("Dr. Other", "other@example.org", "UTC") != first


# --- time zones and DST ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("monday", "now", "nine_local", "eight_local"),
    [
        (date(2026, 3, 9), "2026-03-01T00:00:00Z", "2026-03-09T13:00:00Z", "2026-03-09T12:00:00Z"),
        (date(2026, 11, 2), "2026-10-25T00:00:00Z", "2026-11-02T14:00:00Z", "2026-11-02T13:00:00Z"),
    ],
    ids=["after-spring-forward", "after-fall-back"],
)
def test_a_new_york_specialist_is_bookable_at_nine_local_on_the_monday_after_each_transition(
    app: Bookings, monday: date, now: str, nine_local: str, eight_local: str
) -> None:
    p = practice(app, "America/New_York")
    sv = p.service()

    assert p.book(sv, utc(nine_local), now=utc(now)).status == "confirmed"
    assert p.refused(sv, utc(eight_local), now=utc(now)) == "outside_availability"
    assert str(p.ledger(monday).claims) != "{}"


def test_a_window_starting_at_the_ambiguous_01_30_starts_at_its_first_occurrence(
    app: Bookings,
) -> None:
    # 2026-11-01 01:30 in New York happens at 05:30Z (EDT) and again at 06:30Z (EST).
    p = practice(app, "America/New_York")
    app.set_override(p.specialist_id, date(2026, 11, 1), [[90, 180]])
    sv = p.service(duration_minutes=45)
    now = utc("2026-10-25T00:00:00Z")

    assert p.refused(sv, utc("2026-11-01T06:30:00Z"), now=now) == "outside_availability"
    assert p.book(sv, utc("2026-11-01T05:30:00Z"), now=now).status == "confirmed"
    assert p.book(sv, utc("2026-11-01T06:15:00Z"), now=now).status == "confirmed"


def test_a_window_starting_in_the_spring_gap_at_02_30_moves_forward_to_03_30_edt(
    app: Bookings,
) -> None:
    # 02:30 does not exist on 2026-03-08 in New York; rule 5 moves it forward by the
    # gap, to 03:30 EDT = 07:30Z (not 03:00 EDT = 07:00Z, not 02:30 EST = 07:30Z by luck:
    # the window end 05:00 EDT = 09:00Z shows the day runs on EDT after the gap).
    p = practice(app, "America/New_York")
    app.set_override(p.specialist_id, date(2026, 3, 8), [[150, 300]])
    sv = p.service(duration_minutes=30)
    now = utc("2026-03-01T00:00:00Z")

    assert p.refused(sv, utc("2026-03-08T07:00:00Z"), now=now) == "outside_availability"
    assert p.refused(sv, utc("2026-03-08T06:30:00Z"), now=now) == "outside_availability"
    assert p.book(sv, utc("2026-03-08T07:30:00Z"), now=now).status == "confirmed"
    assert p.book(sv, utc("2026-03-08T08:30:00Z"), now=now).status == "confirmed"
    assert p.refused(sv, utc("2026-03-08T09:00:00Z"), now=now) == "outside_availability"


@pytest.mark.parametrize(
    ("zone_name", "nine_local"),
    [("Asia/Kolkata", "2026-03-09T03:30:00Z"), ("Asia/Kathmandu", "2026-03-09T03:15:00Z")],
)
def test_specialists_in_fractional_offset_zones_are_bookable_at_nine_local(
    app: Bookings, zone_name: str, nine_local: str
) -> None:
    p = practice(app, zone_name)
    sv = p.service()

    assert p.book(sv, utc(nine_local)).status == "confirmed"
    assert p.refused(sv, utc(nine_local) - timedelta(minutes=30)) == "outside_availability"


# --- a specialist who changes time zone --------------------------------------------------------

ALL_DAY = {day: [[0, 24 * 60]] for day in range(7)}


def test_changing_zone_keeps_existing_bookings_where_they_are(app: Bookings) -> None:
    p = practice(app, "Europe/London", weekly=ALL_DAY)
    sv = p.service()
    booking = p.book(sv, utc("2026-03-10T02:00:00Z"))

    app.set_schedule(p.specialist_id, "America/New_York", ALL_DAY)

    assert app.booking(booking.id).starts_at == utc("2026-03-10T02:00:00Z")
    assert p.refused(sv, utc("2026-03-10T02:00:00Z")) == "slot_unavailable"


def test_a_booking_cancelled_after_its_specialist_changed_zone_gives_its_slot_back(
    app: Bookings,
) -> None:
    # 02:00Z on 2026-03-10 is 03-10 in London but 03-09 in New York.
    p = practice(app, "Europe/London", weekly=ALL_DAY)
    sv = p.service()
    booking = p.book(sv, utc("2026-03-10T02:00:00Z"))
    app.set_schedule(p.specialist_id, "America/New_York", ALL_DAY)

    app.cancel(booking.id, None, by="client", now=NOW)

    assert p.book(sv, utc("2026-03-10T02:00:00Z")).status == "confirmed"


def test_max_per_day_counts_bookings_by_the_specialists_current_local_day(
    app: Bookings,
) -> None:
    # 02:00Z on 2026-03-10 is 22:00 on 03-09 in New York: that day already holds one.
    p = practice(app, "Europe/London", weekly=ALL_DAY)
    sv = p.service(max_per_day=1)
    p.book(sv, utc("2026-03-10T02:00:00Z"))
    app.set_schedule(p.specialist_id, "America/New_York", ALL_DAY)

    assert p.refused(sv, utc("2026-03-09T15:00:00Z")) == "day_full"


def test_no_double_booking_after_a_zone_change_of_more_than_a_day(app: Bookings) -> None:
    # 10:00Z on 2026-03-09 is 00:00 on 03-10 at UTC+14 and 23:00 on 03-08 at UTC-11: the
    # old claim sits on a ledger two dates away, beyond the neighbours a new request reads.
    p = practice(app, "Pacific/Kiritimati", weekly=ALL_DAY)
    sv = p.service(duration_minutes=30)
    p.book(sv, utc("2026-03-09T10:00:00Z"))
    app.set_schedule(p.specialist_id, "Pacific/Pago_Pago", ALL_DAY)

    assert p.refused(sv, utc("2026-03-09T10:00:00Z")) == "slot_unavailable"
