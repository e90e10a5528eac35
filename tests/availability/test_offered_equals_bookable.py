"""Offered equals bookable: property tests of GET /v1/slots against POST /v1/bookings.

ARCHITECTURE.md, "Slot rules": a start time is bookable exactly when it is offered.
Hypothesis draws a specialist (a random weekly schedule of 1-3 windows on random
weekdays at 5-minute granularity, an optional date override, a zone with DST or an
odd offset), two services with random rules (duration, slot interval, buffers,
minimum notice, horizon, max per day, approval), bookings made at offered slots, and
a 1-7-day range in a random viewer zone. Each example gets a specialist of its own in
the one shared `world` (booking API + slots API on one real PostgreSQL database).

The test keeps its own record of every booking it made (start, service, and so the
padded busy interval by that service's buffers) and of the working windows (local
wall times read in the specialist's zone with rule 5), and checks the API's answers
against that record rather than against the read model's own rows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

import hypothesis.strategies as st
import psycopg
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis.strategies import DrawFn

from kairos.timezones import format_hhmm, local_date, local_to_utc, zone
from tests.availability.conftest import World, at
from tests.booking.helpers import ADMIN, expect

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 2, tzinfo=UTC)  # the world's frozen clock (a Monday)
FIVE_MINUTES = timedelta(minutes=5)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

SPECIALIST_ZONES = [
    "America/New_York",  # DST starts 2026-03-08
    "Europe/London",  # DST starts 2026-03-29
    "Asia/Kathmandu",  # UTC+05:45
    "Australia/Sydney",  # DST ends 2026-04-05
    "UTC",
]
VIEWER_ZONES = [
    *SPECIALIST_ZONES,
    "Pacific/Chatham",  # UTC+13:45
    "America/St_Johns",  # UTC-03:30
    "Pacific/Kiritimati",  # UTC+14
    "Pacific/Pago_Pago",  # UTC-11
    "Asia/Kolkata",
]
# Days (from the clock's date) around the DST transitions above, drawn more often.
TRANSITION_OFFSETS = [5, 6, 7, 26, 27, 28, 33, 34, 35]

# About 0.2 s an example: the two tests take some 40 s together. KAIROS_SLOT_EXAMPLES
# asks for more (a few hundred each ran clean when these tests were written).
SETTINGS = settings(
    max_examples=int(os.environ.get("KAIROS_SLOT_EXAMPLES", "90")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# --- what hypothesis draws -------------------------------------------------------


@st.composite
def day_windows(draw: DrawFn) -> list[tuple[int, int]]:
    """1-3 non-overlapping windows of one day, in minutes, on the 5-minute grid;
    consecutive windows may touch (09:00-12:00 and 12:00-15:00)."""
    count = draw(st.integers(1, 3))
    points = sorted(draw(st.lists(st.integers(0, 288), min_size=2 * count, max_size=2 * count)))
    windows = []
    for i in range(count):
        start, end = points[2 * i], points[2 * i + 1]
        if start < end:
            windows.append((start * 5, end * 5))
    return windows or [(9 * 60, 17 * 60)]


@st.composite
def service_rules(draw: DrawFn) -> dict[str, Any]:
    return {
        "duration_minutes": draw(st.integers(15, 120)),
        "slot_interval_minutes": draw(st.none() | st.integers(5, 120)),
        "buffer_before_minutes": draw(st.integers(0, 30)),
        "buffer_after_minutes": draw(st.integers(0, 30)),
        # Mostly short notice and the default horizon, so that most ranges offer slots.
        "minimum_notice_minutes": draw(
            st.sampled_from([0, 0, 0, 45, 120]) | st.integers(0, 3 * 1440)
        ),
        "max_advance_days": draw(st.sampled_from([60, 60, 60, 60, 30]) | st.integers(1, 40)),
        "max_per_day": draw(st.none() | st.integers(1, 4)),
        "requires_approval": draw(st.booleans()),
    }


@dataclass(frozen=True)
class Scenario:
    timezone: str
    weekly: dict[int, list[tuple[int, int]]]
    override: tuple[int, list[tuple[int, int]]] | None  # (day offset, windows; [] blocks)
    service: dict[str, Any]
    other: dict[str, Any]  # a second service of the same specialist: its bookings block too
    existing: list[tuple[bool, int]]  # (of the other service?, index into offered slots)
    first_offset: int  # the range's first date, in days after the clock's date
    days: int
    viewer: str
    picks: list[int]  # indices into the offered slots to book, one after another


@st.composite
def scenarios(draw: DrawFn) -> Scenario:
    weekly = draw(st.dictionaries(st.integers(0, 6), day_windows(), min_size=2, max_size=7))
    first_offset = draw(st.integers(0, 20) | st.sampled_from(TRANSITION_OFFSETS))
    days = draw(st.integers(1, 7))
    override = draw(
        st.none()
        | st.tuples(
            st.integers(first_offset - 1, first_offset + days),
            st.just([]) | day_windows(),
        )
    )
    return Scenario(
        timezone=draw(st.sampled_from(SPECIALIST_ZONES)),
        weekly=weekly,
        override=override,
        service=draw(service_rules()),
        other=draw(service_rules()),
        existing=draw(st.lists(st.tuples(st.booleans(), st.integers(0, 10_000)), max_size=5)),
        first_offset=first_offset,
        days=days,
        viewer=draw(st.sampled_from(VIEWER_ZONES)),
        picks=draw(st.lists(st.integers(0, 10_000), min_size=1, max_size=4)),
    )


# --- the test's own model of the specialist ---------------------------------------


@dataclass(frozen=True, order=True)
class Span:
    """Half-open [start, end) in UTC."""

    start: datetime
    end: datetime

    def overlaps(self, other: Span) -> bool:
        return self.start < other.end and other.start < self.end

    def contains(self, other: Span) -> bool:
        return self.start <= other.start and other.end <= self.end


@dataclass(frozen=True)
class Rules:
    service_id: str
    duration: timedelta
    before: timedelta
    after: timedelta
    notice: timedelta
    advance: timedelta
    max_per_day: int | None

    @classmethod
    def of(cls, service_id: str, fields: dict[str, Any]) -> Rules:
        return cls(
            service_id,
            timedelta(minutes=fields["duration_minutes"]),
            timedelta(minutes=fields["buffer_before_minutes"]),
            timedelta(minutes=fields["buffer_after_minutes"]),
            timedelta(minutes=fields["minimum_notice_minutes"]),
            timedelta(days=fields["max_advance_days"]),
            fields["max_per_day"],
        )

    def padded(self, start: datetime) -> Span:
        return Span(start - self.before, start + self.duration + self.after)


@dataclass(frozen=True)
class Made:
    """A booking this test made, as the test itself knows it."""

    booking_id: str
    service_id: str
    start: datetime
    busy: Span


@dataclass(frozen=True)
class Slot:
    start: datetime
    end: datetime
    local_start: str


@dataclass
class Model:
    specialist_id: str
    tz: str
    weekly: dict[int, list[tuple[int, int]]]
    overrides: dict[date, list[tuple[int, int]]]
    rules: Rules
    bookings: list[Made] = field(default_factory=list)

    def windows_on(self, day: date) -> list[Span]:
        local = self.overrides.get(day, self.weekly.get(day.weekday(), []))
        tz = zone(self.tz)
        return [Span(local_to_utc(day, s, tz), local_to_utc(day, e, tz)) for s, e in local]

    def window_of(self, slot: Span) -> Span | None:
        """The working window `slot` lies in (it starts on its own local date's windows)."""
        day = local_date(slot.start, zone(self.tz))
        return next((w for w in self.windows_on(day) if w.contains(slot)), None)

    def local_day(self, instant: datetime) -> date:
        return local_date(instant, zone(self.tz))

    def booked_on(self, day: date) -> int:
        """Active bookings of the service under test starting on local date `day`."""
        return sum(
            1
            for b in self.bookings
            if b.service_id == self.rules.service_id and self.local_day(b.start) == day
        )

    def day_full(self, day: date) -> bool:
        limit = self.rules.max_per_day
        return limit is not None and self.booked_on(day) >= limit


def range_bounds(first: date, last: date, viewer: str) -> Span:
    tz = zone(viewer)
    return Span(local_to_utc(first, 0, tz), local_to_utc(last + timedelta(days=1), 0, tz))


def round_up(instant: datetime) -> datetime:
    remainder = (instant - _EPOCH) % FIVE_MINUTES
    return instant if not remainder else instant + (FIVE_MINUTES - remainder)


# --- driving the APIs ---------------------------------------------------------------


def weekly_body(weekly: dict[int, list[tuple[int, int]]]) -> list[dict[str, Any]]:
    return [
        {"day": day, "start": format_hhmm(s), "end": format_hhmm(e)}
        for day, windows in sorted(weekly.items())
        for s, e in windows
    ]


def service_body(fields: dict[str, Any], name: str) -> dict[str, Any]:
    return {**fields, "name": name, "cancellation_hours": 0}


def offered_slots(
    world: World, service_id: str, first: date, last: date, viewer: str
) -> list[Slot]:
    world.sync()
    body = expect(world.slots(service_id, first, last, viewer), 200)
    return [Slot(at(s["start"]), at(s["end"]), s["local_start"]) for s in body["slots"]]


def book(world: World, model: Model, rules: Rules, start: datetime) -> Made:
    """POST /v1/bookings at `start`; it must be accepted (the slot was offered)."""
    response = world.catalog.book(rules.service_id, start)
    created = expect(response, 201)
    assert at(created["starts_at"]) == start
    assert at(created["ends_at"]) == start + rules.duration
    made = Made(created["id"], rules.service_id, start, rules.padded(start))
    model.bookings.append(made)
    return made


def set_up(world: World, scenario: Scenario) -> tuple[Model, Rules, Rules, date, date]:
    """The scenario's specialist, services and existing bookings; returns the model, the
    rules of the service under test and of the other one, and the range's dates."""
    first = NOW.date() + timedelta(days=scenario.first_offset)
    last = first + timedelta(days=scenario.days - 1)
    specialist = world.catalog.specialist(
        timezone=scenario.timezone, weekly=weekly_body(scenario.weekly), name=f"P {uuid4().hex[:6]}"
    )
    specialist_id = specialist["id"]
    overrides: dict[date, list[tuple[int, int]]] = {}
    if scenario.override is not None:
        offset, windows = scenario.override
        day = NOW.date() + timedelta(days=offset)
        body: dict[str, Any] = (
            {"windows": [{"start": format_hhmm(s), "end": format_hhmm(e)} for s, e in windows]}
            if windows
            else {"blocked": True}
        )
        expect(
            world.booking.put(
                f"/v1/specialists/{specialist_id}/overrides/{day}", json=body, headers=ADMIN
            ),
            200,
        )
        overrides[day] = windows
    service = world.catalog.service(specialist_id, **service_body(scenario.service, "Tested"))
    other = world.catalog.service(specialist_id, **service_body(scenario.other, "Other"))
    rules = Rules.of(service["id"], scenario.service)
    other_rules = Rules.of(other["id"], scenario.other)
    model = Model(specialist_id, scenario.timezone, scenario.weekly, overrides, rules)
    # Existing bookings at offered slots around the range (a day either side), of either
    # service: the other service's buffers pad its bookings differently.
    for of_other, index in scenario.existing:
        chosen = other_rules if of_other else rules
        around = offered_slots(
            world,
            chosen.service_id,
            first - timedelta(days=1),
            last + timedelta(days=1),
            scenario.viewer,
        )
        if around:
            book(world, model, chosen, around[index % len(around)].start)
    return model, rules, other_rules, first, last


# --- the properties -------------------------------------------------------------------


def busy_in_read_model(world: World, specialist_id: str) -> set[tuple[str, datetime, datetime]]:
    with psycopg.connect(world.database_url) as conn:
        rows = conn.execute(
            "SELECT source_id, busy_from, busy_until FROM availability_busy"
            " WHERE specialist_id = %s AND active",
            (specialist_id,),
        ).fetchall()
    return {(str(i), f.astimezone(UTC), u.astimezone(UTC)) for i, f, u in rows}


def check_offered(
    world: World, model: Model, slots: list[Slot], first: date, last: date, viewer: str
) -> None:
    """Every offered slot keeps every slot rule, judged by the test's own record; above all
    (b): its padded interval overlaps no active booking's busy interval."""
    rules = model.rules
    # The read model holds exactly the busy time of the bookings the test made.
    assert busy_in_read_model(world, model.specialist_id) == {
        (b.booking_id, b.busy.start, b.busy.end) for b in model.bookings
    }
    bounds = range_bounds(first, last, viewer)
    starts = [s.start for s in slots]
    assert starts == sorted(set(starts)), "slots must be ascending and distinct"
    for slot in slots:
        span = Span(slot.start, slot.end)
        assert slot.end - slot.start == rules.duration, slot
        assert datetime.fromisoformat(slot.local_start) == slot.start, slot
        assert (
            datetime.fromisoformat(slot.local_start).utcoffset()
            == slot.start.astimezone(zone(viewer)).utcoffset()
        ), slot
        assert bounds.start <= slot.start < bounds.end, (slot, bounds)
        assert model.window_of(span) is not None, f"{slot} lies in no working window"
        assert NOW + rules.notice <= slot.start <= NOW + rules.advance, slot
        assert not model.day_full(model.local_day(slot.start)), f"{slot}: its day is full"
        padded = rules.padded(slot.start)
        clashes = [b for b in model.bookings if b.busy.overlaps(padded)]
        assert not clashes, f"{slot} (padded {padded}) overlaps busy time {clashes}"


@given(scenario=scenarios())
@SETTINGS
def test_every_offered_slot_is_bookable_and_clear_of_all_busy_time(
    world: World, scenario: Scenario
) -> None:
    model, rules, _, first, last = set_up(world, scenario)
    offered = offered_slots(world, rules.service_id, first, last, scenario.viewer)
    check_offered(world, model, offered, first, last, scenario.viewer)
    # Bookable ⇒ offered too: a start in the range that is not offered is refused.
    bounds = range_bounds(first, last, scenario.viewer)
    starts = {s.start for s in offered}
    stray = bounds.start + FIVE_MINUTES * (
        scenario.picks[0] % ((bounds.end - bounds.start) // FIVE_MINUTES)
    )
    if stray not in starts:
        refused = world.catalog.book(rules.service_id, stray)
        assert refused.status_code in (409, 422), (stray, refused.status_code, refused.text)
    event(f"offered={min(len(offered), 10)} existing={len(model.bookings)}")
    for pick in scenario.picks:
        if not offered:
            break
        book(world, model, rules, offered[pick % len(offered)].start)
        offered = offered_slots(world, rules.service_id, first, last, scenario.viewer)
        check_offered(world, model, offered, first, last, scenario.viewer)


@given(scenario=scenarios())
@SETTINGS
def test_booking_an_offered_slot_removes_exactly_the_slots_it_conflicts_with(
    world: World, scenario: Scenario
) -> None:
    """Booking an offered slot s of service S (buffers b, a) makes P = [s - b, s + d + a)
    busy. s was offered, so P overlaps no busy time: the busy set grows by one interval
    disjoint from the rest, and in every working window the stepping runs before and after
    agree up to the first candidate whose padded interval overlaps P. From there the run
    restarts at round5(P.end + b) (or later), so the grid after P may move. Hence, with
    `before`/`after` the offered lists of one range before and after the booking:

    1. vanished: every slot in before - after has a padded interval overlapping P, or its
       day is now full (bookings of S that day reached max_per_day), or it starts at or
       after P.end + b in a window that reaches P (W.start - b < P.end and
       W.end + a > P.start): a restarted grid moved it;
    2. appeared: every slot in after - before starts at or after round5(P.end + b), in a
       window that reaches P;
    3. so every slot whose padded interval ends at or before P.start, and every slot in a
       window that does not reach P, is still offered unless its day is full;
    4. a day that became full offers nothing afterwards; s itself is gone.
    """
    model, rules, _, first, last = set_up(world, scenario)
    before = offered_slots(world, rules.service_id, first, last, scenario.viewer)
    for pick in scenario.picks:
        if not before:
            break
        chosen = before[pick % len(before)]
        made = book(world, model, rules, chosen.start)
        after = offered_slots(world, rules.service_id, first, last, scenario.viewer)
        check_offered(world, model, after, first, last, scenario.viewer)
        check_removal(model, made, before, after)
        event(f"before={min(len(before), 5)}")
        event(f"vanished={min(len(set(s.start for s in before) - set(s.start for s in after)), 3)}")
        event(f"appeared={min(len(set(s.start for s in after) - set(s.start for s in before)), 3)}")
        if model.day_full(model.local_day(made.start)):
            event("day filled")
        before = after


def check_removal(model: Model, made: Made, before: list[Slot], after: list[Slot]) -> None:
    rules = model.rules
    p = made.busy
    restart = round_up(p.end + rules.before)
    full_day = model.local_day(made.start) if model.day_full(model.local_day(made.start)) else None

    def reaches(slot: Slot) -> bool:
        window = model.window_of(Span(slot.start, slot.end))
        assert window is not None
        return window.start - rules.before < p.end and window.end + rules.after > p.start

    before_starts = {s.start: s for s in before}
    after_starts = {s.start: s for s in after}
    assert made.start not in after_starts, "the booked slot is still offered"
    if full_day is not None:
        assert all(model.local_day(s) != full_day for s in after_starts), (
            f"{full_day} is full (max_per_day {rules.max_per_day}) but still offers slots"
        )
    for start, slot in before_starts.items():
        if start in after_starts:
            continue
        conflicts = rules.padded(start).overlaps(p)
        filled = model.local_day(start) == full_day
        moved = start >= p.end + rules.before and reaches(slot)
        assert conflicts or filled or moved, (
            f"{slot} vanished when {made.start} was booked (busy {p}), yet it does not"
            " conflict, its day is not full, and no restarted grid explains it"
        )
    for start, slot in after_starts.items():
        if start in before_starts:
            continue
        assert start >= restart and reaches(slot), (
            f"{slot} appeared when {made.start} was booked (busy {p}); only a grid restarted"
            f" at or after {restart} in a window reaching the booking may add slots"
        )
