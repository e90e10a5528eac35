"""The booking aggregates on their own: every command records the event it should, or refuses."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import Aggregate

from booking.domain import (
    Booking,
    DayLedger,
    DomainError,
    InvalidSchedule,
    InvalidState,
    MissingAnswer,
    Service,
    Specialist,
    TooEarly,
)
from kairos.slots import Interval, LocalWindow
from kairos.timezones import UnknownTimezone, iso_utc
from tests.booking.helpers import service_terms

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
STARTS = datetime(2026, 3, 9, 14, tzinfo=UTC)
# Half-way through the consultation: anything that needs it to have begun may happen.
DURING = STARTS + timedelta(minutes=15)
CLIENT = {"name": "Ada Lovelace", "email": "ada@example.org", "timezone": "Europe/London"}


def names(aggregate: Aggregate) -> list[str]:
    """The class names of the events `aggregate` recorded since the last collect."""
    return [type(e).__qualname__ for e in aggregate.collect_events()]


def requested(**overrides: Any) -> Booking:
    fields: dict[str, Any] = {
        "id": uuid4(),
        "service_id": uuid4(),
        "specialist_id": uuid4(),
        "starts_at": STARTS,
        "ends_at": STARTS + timedelta(minutes=30),
        "busy_from": STARTS - timedelta(minutes=10),
        "busy_until": STARTS + timedelta(minutes=45),
        "client": CLIENT,
        "answers": {},
        "notes": None,
        "fingerprint": "f",
        "ledger_days": [STARTS.date().isoformat()],
        "at": NOW,
    }
    fields.update(overrides)
    return Booking(**fields)


def confirmed() -> Booking:
    booking = requested()
    booking.confirm(at=NOW)
    booking.collect_events()
    return booking


def pending() -> Booking:
    booking = requested()
    booking.hold_for_approval(at=NOW)
    booking.collect_events()
    return booking


def in_progress() -> Booking:
    booking = confirmed()
    booking.start(at=STARTS)
    booking.collect_events()
    return booking


def service(**overrides: Any) -> Service:
    terms = {
        "duration_minutes": 30,
        "buffer_before_minutes": 10,
        "buffer_after_minutes": 15,
        "minimum_notice_minutes": 60,
        "max_advance_days": 30,
        "max_per_day": 4,
        **overrides,
    }
    return Service.define(uuid4(), service_terms(**terms))


def specialist(timezone: str = "America/New_York") -> Specialist:
    return Specialist(
        name="Dr. Who", email="who@example.org", timezone=timezone, specialty=None, bio=None
    )


# --- the booking lifecycle ----------------------------------------------------------------


def test_a_booking_request_records_the_slot_it_asked_for() -> None:
    booking_id = uuid4()
    booking = requested(id=booking_id, answers={"topic": "taxes"}, notes="bring papers")

    [event] = booking.collect_events()

    assert type(event) is Booking.SlotRequested
    assert event.originator_id == booking_id
    assert event.starts_at == STARTS
    assert event.ends_at == STARTS + timedelta(minutes=30)
    assert (event.busy_from, event.busy_until) == (
        STARTS - timedelta(minutes=10),
        STARTS + timedelta(minutes=45),
    )
    assert event.client == CLIENT
    assert event.answers == {"topic": "taxes"}
    assert event.notes == "bring papers"
    assert booking.status == "requested"
    assert booking.busy == Interval(STARTS - timedelta(minutes=10), STARTS + timedelta(minutes=45))


def test_a_request_that_is_confirmed_records_confirmed() -> None:
    booking = requested()
    booking.confirm(at=NOW)

    assert names(booking) == ["Booking.SlotRequested", "Booking.Confirmed"]
    assert booking.status == "confirmed"
    assert booking.history == [("confirmed", NOW)]


def test_a_request_held_for_approval_records_pending() -> None:
    booking = requested()
    booking.hold_for_approval(at=NOW)

    events = booking.collect_events()
    assert [type(e) for e in events] == [Booking.SlotRequested, Booking.Pending]
    assert events[1].at == NOW
    assert booking.status == "pending"


def test_approving_a_pending_booking_records_confirmed() -> None:
    booking = pending()
    later = NOW + timedelta(hours=2)

    booking.approve(at=later)

    [event] = booking.collect_events()
    assert type(event) is Booking.Confirmed
    assert event.at == later
    assert booking.status == "confirmed"
    assert booking.history == [("pending", NOW), ("confirmed", later)]


def test_declining_a_pending_booking_records_declined_with_the_reason() -> None:
    booking = pending()

    booking.decline("on leave", at=NOW)

    [event] = booking.collect_events()
    assert type(event) is Booking.Declined
    assert event.reason == "on leave"
    assert booking.status == "declined"
    assert booking.cancel_reason == "on leave"


@pytest.mark.parametrize("make", [confirmed, pending], ids=["confirmed", "pending"])
def test_cancelling_an_active_booking_records_cancelled(make: Any) -> None:
    booking = make()

    assert booking.cancel("ill", refund_eligible=True, by="client", at=NOW) is True

    [event] = booking.collect_events()
    assert type(event) is Booking.Cancelled
    assert (event.reason, event.refund_eligible, event.by, event.at) == ("ill", True, "client", NOW)
    assert booking.status == "cancelled"
    assert booking.refund_eligible is True


def test_cancelling_twice_records_nothing_the_second_time() -> None:
    booking = confirmed()
    booking.cancel("ill", refund_eligible=False, by="client", at=NOW)
    booking.collect_events()

    assert booking.cancel("again", refund_eligible=True, by="admin", at=NOW) is False

    assert names(booking) == []
    assert booking.refund_eligible is False
    assert booking.cancel_reason == "ill"


def test_rescheduling_records_the_new_and_the_previous_times() -> None:
    booking = confirmed()
    new_start = STARTS + timedelta(days=1)
    padded = Interval(new_start - timedelta(minutes=10), new_start + timedelta(minutes=45))

    new_days = [new_start.date().isoformat()]
    booking.reschedule(
        new_start, new_start + timedelta(minutes=30), padded, ledger_days=new_days, at=NOW
    )

    [event] = booking.collect_events()
    assert type(event) is Booking.Rescheduled
    assert event.starts_at == new_start
    assert event.ledger_days == new_days and booking.ledger_days == new_days
    assert event.ends_at == new_start + timedelta(minutes=30)
    assert (event.busy_from, event.busy_until) == (padded.start, padded.end)
    assert event.previous_starts_at == STARTS
    assert event.previous_ends_at == STARTS + timedelta(minutes=30)
    assert booking.busy == padded
    assert booking.status == "confirmed"


def test_completing_a_confirmed_booking_records_completed() -> None:
    booking = confirmed()

    booking.complete(at=STARTS + timedelta(minutes=30))

    assert names(booking) == ["Booking.Completed"]
    assert booking.status == "completed"


@pytest.mark.parametrize("party", ["client", "specialist"])
def test_marking_a_no_show_records_who_did_not_come(party: str) -> None:
    booking = confirmed()

    booking.mark_no_show(party, at=STARTS + timedelta(minutes=15))

    [event] = booking.collect_events()
    assert type(event) is Booking.NoShowMarked
    assert event.party == party
    assert booking.status == "no_show"
    assert booking.no_show_party == party


def test_starting_in_the_waiting_room_records_started_and_puts_the_booking_in_progress() -> None:
    booking = confirmed()
    opens = STARTS - timedelta(minutes=10)

    booking.start(at=opens)

    [event] = booking.collect_events()
    assert (type(event), event.at) == (Booking.Started, opens)
    assert (booking.status, booking.history[-1]) == ("in_progress", ("in_progress", opens))


@pytest.mark.parametrize(
    ("waiting_room", "at"),
    [
        (timedelta(minutes=10), STARTS - timedelta(minutes=10, seconds=1)),
        (timedelta(minutes=10), NOW),
        (timedelta(minutes=2), STARTS - timedelta(minutes=5)),
    ],
    ids=["a-second-before-the-room-opens", "days-before", "before-a-shorter-waiting-room"],
)
def test_starting_before_the_waiting_room_opens_is_too_early_and_records_nothing(
    waiting_room: timedelta, at: datetime
) -> None:
    booking = confirmed()

    with pytest.raises(TooEarly) as refused:
        booking.start(at=at, waiting_room=waiting_room)

    assert (refused.value.code, refused.value.status) == ("too_early", 425)
    assert refused.value.details == {"allowed_from": iso_utc(STARTS - waiting_room)}
    assert names(booking) == []
    assert booking.status == "confirmed"


def test_an_in_progress_booking_can_be_completed_even_before_its_start_time() -> None:
    booking = confirmed()
    booking.start(at=STARTS - timedelta(minutes=5))

    booking.complete(at=STARTS - timedelta(minutes=1))

    assert names(booking) == ["Booking.Started", "Booking.Completed"]
    assert booking.status == "completed"


@pytest.mark.parametrize("party", ["client", "specialist"])
def test_an_in_progress_booking_can_be_marked_a_no_show_after_the_grace(party: str) -> None:
    booking = in_progress()

    booking.mark_no_show(party, at=STARTS + timedelta(minutes=15))

    assert names(booking) == ["Booking.NoShowMarked"]
    assert (booking.status, booking.no_show_party) == ("no_show", party)


@pytest.mark.parametrize("at", [NOW, STARTS - timedelta(seconds=1)], ids=["days", "a-second"])
def test_completing_a_confirmed_booking_before_it_starts_is_too_early(at: datetime) -> None:
    booking = confirmed()

    with pytest.raises(TooEarly) as refused:
        booking.complete(at=at)

    assert refused.value.details == {"allowed_from": iso_utc(STARTS)}
    assert names(booking) == []
    assert booking.status == "confirmed"
    booking.complete(at=STARTS)
    assert names(booking) == ["Booking.Completed"]


@pytest.mark.parametrize("make", [confirmed, in_progress], ids=["confirmed", "in-progress"])
@pytest.mark.parametrize(
    ("grace", "at"),
    [
        (timedelta(minutes=15), NOW),
        (timedelta(minutes=15), STARTS),
        (timedelta(minutes=15), STARTS + timedelta(minutes=14, seconds=59)),
        (timedelta(minutes=30), STARTS + timedelta(minutes=20)),
    ],
    ids=["days-before", "at-the-start", "within-the-grace", "within-a-longer-grace"],
)
def test_a_no_show_before_the_grace_period_is_over_is_too_early(
    make: Any, grace: timedelta, at: datetime
) -> None:
    booking = make()
    status = booking.status

    with pytest.raises(TooEarly) as refused:
        booking.mark_no_show("client", at=at, grace=grace)

    assert refused.value.details == {"allowed_from": iso_utc(STARTS + grace)}
    assert names(booking) == []
    assert booking.status == status
    booking.mark_no_show("client", at=STARTS + grace, grace=grace)
    assert names(booking) == ["Booking.NoShowMarked"]


def _cancelled() -> Booking:
    booking = confirmed()
    booking.cancel(None, refund_eligible=False, by="client", at=NOW)
    booking.collect_events()
    return booking


def _declined() -> Booking:
    booking = pending()
    booking.decline(None, at=NOW)
    booking.collect_events()
    return booking


def _completed() -> Booking:
    booking = confirmed()
    booking.complete(at=DURING)
    booking.collect_events()
    return booking


def _no_show() -> Booking:
    booking = confirmed()
    booking.mark_no_show("client", at=DURING)
    booking.collect_events()
    return booking


def _approve(b: Booking) -> None:
    b.approve(at=NOW)


def _decline(b: Booking) -> None:
    b.decline(None, at=NOW)


def _cancel(b: Booking) -> None:
    b.cancel(None, refund_eligible=True, by="admin", at=NOW)


def _reschedule(b: Booking) -> None:
    b.reschedule(
        STARTS + timedelta(hours=1),
        STARTS + timedelta(hours=2),
        Interval(STARTS + timedelta(hours=1), STARTS + timedelta(hours=2)),
        ledger_days=[STARTS.date().isoformat()],
        at=NOW,
    )


def _complete(b: Booking) -> None:
    b.complete(at=DURING)


def _no_show_cmd(b: Booking) -> None:
    b.mark_no_show("client", at=DURING)


def _start(b: Booking) -> None:
    b.start(at=STARTS)


@pytest.mark.parametrize(
    ("state", "command"),
    [
        (confirmed, _approve),
        (confirmed, _decline),
        (pending, _complete),
        (pending, _no_show_cmd),
        (_declined, _approve),
        (_declined, _cancel),
        (_declined, _reschedule),
        (_cancelled, _approve),
        (_cancelled, _decline),
        (_cancelled, _reschedule),
        (_cancelled, _complete),
        (_cancelled, _no_show_cmd),
        (_completed, _cancel),
        (_completed, _reschedule),
        (_completed, _complete),
        (_completed, _no_show_cmd),
        (_no_show, _cancel),
        (_no_show, _complete),
        (_no_show, _approve),
        (pending, _start),
        (_cancelled, _start),
        (_completed, _start),
        (_no_show, _start),
        (in_progress, _start),
        (in_progress, _cancel),
        (in_progress, _reschedule),
        (in_progress, _approve),
        (in_progress, _decline),
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_a_command_from_the_wrong_state_is_refused_with_invalid_state_and_records_nothing(
    state: Any, command: Any
) -> None:
    booking = state()
    before = (booking.status, booking.version)

    with pytest.raises(InvalidState) as refused:
        command(booking)

    assert refused.value.code == "invalid_state"
    assert refused.value.status == 409
    assert refused.value.details["status"] == booking.status
    assert names(booking) == []
    assert (booking.status, booking.version) == before


# --- specialists and schedules --------------------------------------------------------------


def test_registering_a_specialist_records_registered() -> None:
    sp = specialist()

    [event] = sp.collect_events()
    assert type(event) is Specialist.Registered
    assert (event.name, event.email, event.timezone) == (
        "Dr. Who",
        "who@example.org",
        "America/New_York",
    )


def test_setting_a_schedule_records_its_windows_sorted_and_the_zone() -> None:
    sp = specialist()
    sp.collect_events()

    sp.set_schedule("Asia/Kathmandu", {0: [[780, 1020], [540, 720]], 4: [[0, 1440]]})

    [event] = sp.collect_events()
    assert type(event) is Specialist.ScheduleSet
    assert event.timezone == "Asia/Kathmandu"
    assert event.weekly == {0: [[540, 720], [780, 1020]], 4: [[0, 1440]]}
    assert sp.working_hours().weekly[0] == [LocalWindow(540, 720), LocalWindow(780, 1020)]


@pytest.mark.parametrize(
    "windows",
    [
        [[540, 720], [700, 900]],  # overlapping
        [[540, 720], [540, 600]],  # same start
        [[540, 1020], [600, 660]],  # nested
        [[720, 540]],  # inverted
        [[600, 600]],  # empty
        [[-10, 60]],  # before midnight
        [[1380, 1450]],  # past 24:00
    ],
)
def test_overlapping_or_inverted_windows_are_an_invalid_schedule(windows: list[list[int]]) -> None:
    sp = specialist()
    sp.collect_events()

    with pytest.raises(InvalidSchedule) as refused:
        sp.set_schedule("UTC", {2: windows})
    assert refused.value.code == "invalid_schedule"
    with pytest.raises(InvalidSchedule):
        sp.set_override(date(2026, 3, 9), windows)
    assert names(sp) == []


def test_windows_that_touch_are_a_valid_schedule() -> None:
    sp = specialist()
    sp.set_schedule("UTC", {0: [[540, 720], [720, 1020]]})

    assert names(sp)[-1] == "Specialist.ScheduleSet"


@pytest.mark.parametrize("day", [-1, 7])
def test_a_weekday_outside_monday_to_sunday_is_an_invalid_schedule(day: int) -> None:
    with pytest.raises(InvalidSchedule):
        specialist().set_schedule("UTC", {day: [[540, 600]]})


def test_a_schedule_in_an_unknown_zone_is_refused() -> None:
    sp = specialist()
    sp.collect_events()

    with pytest.raises(UnknownTimezone):
        sp.set_schedule("Mars/Olympus_Mons", {0: [[540, 600]]})
    assert names(sp) == []


def test_an_override_records_its_date_and_windows_and_clearing_it_records_cleared() -> None:
    sp = specialist()
    sp.collect_events()
    day = date(2026, 11, 1)

    sp.set_override(day, [[90, 180]])
    sp.set_override(date(2026, 12, 25), [])
    sp.clear_override(day)

    events = sp.collect_events()
    assert [type(e) for e in events] == [
        Specialist.OverrideSet,
        Specialist.OverrideSet,
        Specialist.OverrideCleared,
    ]
    assert (events[0].day, events[0].windows) == ("2026-11-01", [[90, 180]])
    assert (events[1].day, events[1].windows) == ("2026-12-25", [])
    assert events[2].day == "2026-11-01"
    assert sp.working_hours().overrides == {date(2026, 12, 25): []}


def test_clearing_a_date_without_an_override_records_nothing() -> None:
    sp = specialist()
    sp.collect_events()

    sp.clear_override(date(2026, 3, 9))

    assert names(sp) == []


# --- services -------------------------------------------------------------------------------


def test_defining_a_service_records_defined_and_its_rules() -> None:
    sv = service(slot_interval_minutes=None)

    [event] = sv.collect_events()
    assert type(event) is Service.Defined
    rules = sv.rules()
    assert rules.duration == timedelta(minutes=30)
    assert rules.interval == timedelta(minutes=30)  # defaults to the duration
    assert rules.padded(STARTS) == Interval(
        STARTS - timedelta(minutes=10), STARTS + timedelta(minutes=45)
    )
    assert rules.minimum_notice == timedelta(hours=1)
    assert rules.max_advance == timedelta(days=30)
    assert rules.max_per_day == 4


def test_updating_a_service_records_only_the_changes() -> None:
    sv = service()
    sv.collect_events()

    sv.update({"slot_interval_minutes": 15, "requires_approval": True})

    [event] = sv.collect_events()
    assert type(event) is Service.Updated
    assert event.changes == {"slot_interval_minutes": 15, "requires_approval": True}
    assert sv.rules().interval == timedelta(minutes=15)
    assert sv.terms.requires_approval is True


QUESTIONS = [
    {"key": "topic", "label": "Topic", "type": "text", "required": True},
    {
        "key": "kind",
        "label": "Kind",
        "type": "select",
        "required": True,
        "options": ["first visit", "follow-up"],
    },
    {"key": "extra", "label": "Anything else", "type": "textarea", "required": False},
    {
        "key": "lang",
        "label": "Language",
        "type": "select",
        "required": False,
        "options": ["en", "de"],
    },
]


@pytest.mark.parametrize(
    ("answers", "missing"),
    [
        ({}, ["topic", "kind"]),
        ({"kind": "follow-up"}, ["topic"]),
        ({"topic": "   ", "kind": "follow-up"}, ["topic"]),
        ({"topic": "taxes", "kind": ""}, ["kind"]),
    ],
)
def test_an_unanswered_required_question_is_a_missing_answer(
    answers: dict[str, str], missing: list[str]
) -> None:
    with pytest.raises(MissingAnswer) as refused:
        service(questions=QUESTIONS).check_answers(answers)

    assert refused.value.code == "missing_answer"
    assert refused.value.details == {"missing": missing}


@pytest.mark.parametrize(
    "answers",
    [
        {"topic": "taxes", "kind": "second opinion"},
        {"topic": "taxes", "kind": "follow-up", "lang": "fr"},
    ],
)
def test_a_select_answer_that_is_not_one_of_its_options_is_refused(answers: dict[str, str]) -> None:
    with pytest.raises(MissingAnswer):
        service(questions=QUESTIONS).check_answers(answers)


def test_complete_answers_are_accepted() -> None:
    service(questions=QUESTIONS).check_answers({"topic": "taxes", "kind": "first visit"})
    service(questions=QUESTIONS).check_answers(
        {"topic": "taxes", "kind": "first visit", "extra": "", "lang": "de"}
    )


@pytest.mark.parametrize(
    ("hours_before", "eligible"), [(25, True), (24, True), (23, False), (-1, False)]
)
def test_a_refund_is_due_when_cancelled_at_least_cancellation_hours_before_start(
    hours_before: int, eligible: bool
) -> None:
    sv = service(cancellation_hours=24)

    assert sv.refund_eligible(STARTS, STARTS - timedelta(hours=hours_before)) is eligible


# --- day ledgers ------------------------------------------------------------------------


def test_a_ledger_has_one_deterministic_id_per_specialist_and_date() -> None:
    sp_id = UUID("6f1c9a4e-55a9-4a40-9a43-3a0e9b2f2b11")

    assert DayLedger.create_id(sp_id, "2026-03-09") == DayLedger.create_id(sp_id, "2026-03-09")
    assert DayLedger.create_id(sp_id, "2026-03-09") != DayLedger.create_id(sp_id, "2026-03-10")
    assert DayLedger.create_id(sp_id, "2026-03-09") != DayLedger.create_id(uuid4(), "2026-03-09")
    assert DayLedger(specialist_id=sp_id, day="2026-03-09").id == DayLedger.create_id(
        sp_id, "2026-03-09"
    )


def test_a_ledger_records_claims_with_their_start_and_releases_them() -> None:
    sp_id, service_a, service_b = uuid4(), uuid4(), uuid4()
    ledger = DayLedger(specialist_id=sp_id, day="2026-03-09")
    first, second, third = uuid4(), uuid4(), uuid4()
    busy = (STARTS - timedelta(minutes=10), STARTS + timedelta(hours=1))

    ledger.claim(first, service_a, STARTS, *busy)
    ledger.claim(second, service_a, STARTS, *busy)
    ledger.claim(third, service_b, STARTS, *busy)
    ledger.release(second)
    ledger.release(uuid4())  # never claimed here: nothing to record

    events = ledger.collect_events()
    assert [type(e).__qualname__ for e in events] == [
        "DayLedger.Opened",
        "DayLedger.Claimed",
        "DayLedger.Claimed",
        "DayLedger.Claimed",
        "DayLedger.Released",
    ]
    assert events[1].booking_id == first and events[1].starts_at == STARTS
    assert (events[1].busy_from, events[1].busy_until) == busy
    assert events[-1].booking_id == second
    assert set(ledger.claims) == {str(first), str(third)}
    assert ledger.claims[str(third)].service_id == service_b
    assert ledger.claims[str(third)].busy == Interval(*busy)


def test_every_refusal_is_a_domain_error_with_an_api_code() -> None:
    for error in (InvalidSchedule, InvalidState, MissingAnswer, TooEarly):
        assert issubclass(error, DomainError)
        assert error.code != DomainError.code
