"""The slot rules of ARCHITECTURE.md as one pure function: what is offered is what is bookable."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from kairos.slots import (
    Interval,
    LocalWindow,
    Rejection,
    ServiceRules,
    WorkingHours,
    check_start,
    merge,
    offered_slots,
)
from kairos.timezones import local_date, local_to_utc, zone

pytestmark = pytest.mark.unit

MONDAY = date(2026, 3, 2)
TUESDAY = MONDAY + timedelta(days=1)
LONG_BEFORE = datetime(2026, 2, 20, tzinfo=UTC)


def at(hour: int, minute: int = 0, day: date = MONDAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def hhmm(text: str) -> int:
    h, m = text.split(":")
    return int(h) * 60 + int(m)


def windows(*pairs: tuple[str, str]) -> list[LocalWindow]:
    return [LocalWindow(hhmm(start), hhmm(end)) for start, end in pairs]


def hours(
    weekly: Mapping[int, Sequence[LocalWindow]] | None = None,
    overrides: Mapping[date, Sequence[LocalWindow]] | None = None,
    tz: str = "UTC",
) -> WorkingHours:
    if weekly is None:
        weekly = {d: windows(("09:00", "17:00")) for d in range(5)}
    return WorkingHours(timezone=zone(tz), weekly=weekly, overrides=overrides or {})


def rules(
    duration: int = 60,
    interval: int | None = None,
    before: int = 0,
    after: int = 0,
    notice: int = 0,
    advance: timedelta = timedelta(days=60),
    max_per_day: int | None = None,
) -> ServiceRules:
    return ServiceRules(
        duration=timedelta(minutes=duration),
        interval=timedelta(minutes=interval or duration),
        buffer_before=timedelta(minutes=before),
        buffer_after=timedelta(minutes=after),
        minimum_notice=timedelta(minutes=notice),
        max_advance=advance,
        max_per_day=max_per_day,
    )


def starts(
    h: WorkingHours,
    r: ServiceRules,
    busy: Sequence[Interval] = (),
    per_day: Mapping[date, int] | None = None,
    day: date = MONDAY,
    now: datetime = LONG_BEFORE,
) -> list[str]:
    """Offered starts on one day as UTC "HH:MM" strings."""
    slots = offered_slots(h, r, busy, per_day or {}, day, day, now)
    for slot in slots:
        assert slot.end - slot.start == r.duration
    return [s.start.strftime("%H:%M") for s in slots]


def check(
    h: WorkingHours,
    r: ServiceRules,
    start: datetime,
    busy: Sequence[Interval] = (),
    per_day: Mapping[date, int] | None = None,
    now: datetime = LONG_BEFORE,
) -> Rejection | None:
    return check_start(h, r, busy, per_day or {}, start, now)


# --- working windows ------------------------------------------------------------


def test_several_windows_a_day_are_each_stepped_from_their_own_start() -> None:
    h = hours({0: windows(("09:00", "12:00"), ("13:30", "17:00"))})

    assert starts(h, rules(60)) == ["09:00", "10:00", "11:00", "13:30", "14:30", "15:30"]


def test_a_slot_must_lie_inside_one_window_even_when_two_windows_touch() -> None:
    h = hours({0: windows(("09:00", "10:00"), ("10:00", "11:00"))})

    assert starts(h, rules(60, interval=30)) == ["09:00", "10:00"]
    assert check(h, rules(60, interval=30), at(9, 30)) is Rejection.OUTSIDE_AVAILABILITY


def test_a_day_without_weekly_windows_offers_nothing() -> None:
    sunday = MONDAY - timedelta(days=1)
    assert starts(hours(), rules(60), day=sunday) == []
    assert check(hours(), rules(60), at(9, day=sunday)) is Rejection.OUTSIDE_AVAILABILITY


def test_a_blocked_override_empties_its_date_and_only_that_date() -> None:
    h = hours(overrides={MONDAY: ()})

    assert starts(h, rules(60)) == []
    assert check(h, rules(60), at(9)) is Rejection.OUTSIDE_AVAILABILITY
    assert starts(h, rules(60), day=TUESDAY)[:2] == ["09:00", "10:00"]


def test_an_override_with_windows_replaces_the_weekly_windows_of_its_date() -> None:
    h = hours(overrides={MONDAY: windows(("18:00", "20:00"))})

    assert starts(h, rules(60)) == ["18:00", "19:00"]
    assert check(h, rules(60), at(9)) is Rejection.OUTSIDE_AVAILABILITY
    assert check(h, rules(60), at(18)) is None


def test_an_override_can_open_a_day_that_has_no_weekly_windows() -> None:
    saturday = MONDAY + timedelta(days=5)
    h = hours(overrides={saturday: windows(("10:00", "11:00"))})

    assert starts(h, rules(30), day=saturday) == ["10:00", "10:30"]


def test_a_window_until_24_00_offers_the_last_slot_of_the_day() -> None:
    h = hours({0: windows(("22:00", "24:00"))})

    assert starts(h, rules(60)) == ["22:00", "23:00"]


def test_windows_are_local_wall_times_of_the_specialists_zone() -> None:
    h = hours({0: windows(("09:00", "11:00"))}, tz="Asia/Kathmandu")

    slots = offered_slots(h, rules(60), [], {}, MONDAY, MONDAY, LONG_BEFORE)

    assert [s.start for s in slots] == [at(3, 15), at(4, 15)]


@pytest.mark.parametrize(("day", "count"), [(date(2026, 3, 8), 23), (date(2026, 11, 1), 25)])
def test_an_all_day_window_on_a_dst_transition_day_has_as_many_hours_as_the_day(
    day: date, count: int
) -> None:
    h = hours({6: windows(("00:00", "24:00"))}, tz="America/New_York")

    now = datetime.combine(day - timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    assert len(starts(h, rules(60), day=day, now=now)) == count


# --- slot interval ---------------------------------------------------------------


def test_candidates_step_by_the_slot_interval_when_it_is_shorter_than_the_duration() -> None:
    h = hours({0: windows(("09:00", "11:00"))})

    assert starts(h, rules(60, interval=15)) == ["09:00", "09:15", "09:30", "09:45", "10:00"]


def test_candidates_step_by_the_slot_interval_when_it_is_longer_than_the_duration() -> None:
    h = hours({0: windows(("09:00", "11:00"))})

    assert starts(h, rules(30, interval=45)) == ["09:00", "09:45", "10:30"]
    assert check(h, rules(30, interval=45), at(9, 30)) is Rejection.OUTSIDE_AVAILABILITY


# --- busy time and buffers -----------------------------------------------------------


def test_stepping_restarts_at_the_end_of_busy_time_rounded_up_to_five_minutes() -> None:
    h = hours({0: windows(("09:00", "12:00"))})
    external = [Interval(at(9, 40), at(10, 7))]

    assert starts(h, rules(30), external) == ["09:00", "10:10", "10:40", "11:10"]
    assert check(h, rules(30), at(9, 30), external) is Rejection.SLOT_UNAVAILABLE
    assert check(h, rules(30), at(10, 7), external) is Rejection.OUTSIDE_AVAILABILITY
    assert check(h, rules(30), at(10, 10), external) is None


def test_a_restart_that_lands_on_five_minutes_is_not_pushed_further() -> None:
    h = hours({0: windows(("09:00", "12:15"))})

    assert starts(h, rules(60), [Interval(at(9, 30), at(10, 15))]) == ["10:15", "11:15"]


def test_busy_time_ending_exactly_at_a_candidate_does_not_clash_with_it() -> None:
    h = hours({0: windows(("09:00", "12:00"))})

    assert starts(h, rules(60), [Interval(at(8), at(9))]) == ["09:00", "10:00", "11:00"]
    assert starts(h, rules(60), [Interval(at(12), at(13))]) == ["09:00", "10:00", "11:00"]


def test_buffers_of_both_bookings_add_up_between_them() -> None:
    # An existing booking 10:00-11:00 keeps 11:00-11:15 free after it (its own after-buffer);
    # the new service needs 10 minutes before each of its slots: the first start after
    # the meeting is 11:25, not 11:00, 11:10 or 11:15.
    h = hours({0: windows(("09:00", "13:00"))})
    existing = [Interval(at(10), at(11, 15))]
    new = rules(30, before=10)

    assert starts(h, new, existing) == ["09:00", "09:30", "11:25", "11:55", "12:25"]
    assert check(h, new, at(11, 15), existing) is Rejection.SLOT_UNAVAILABLE
    assert check(h, new, at(11, 20), existing) is Rejection.SLOT_UNAVAILABLE
    assert check(h, new, at(11, 25), existing) is None


def test_the_new_slots_after_buffer_meets_the_existing_bookings_before_buffer() -> None:
    # Existing booking 11:00-12:00 padded by a 5 minute before-buffer: busy from 10:55.
    # A new 30 minute slot with a 10 minute after-buffer must end by 10:45.
    h = hours({0: windows(("09:00", "13:00"))})
    existing = [Interval(at(10, 55), at(12))]
    new = rules(30, after=10, interval=15)

    assert "10:15" in starts(h, new, existing)
    assert "10:30" not in starts(h, new, existing)
    assert check(h, new, at(10, 15), existing) is None
    assert check(h, new, at(10, 30), existing) is Rejection.SLOT_UNAVAILABLE


def test_a_before_buffer_may_reach_outside_the_window() -> None:
    h = hours({0: windows(("09:00", "10:00"))})

    assert starts(h, rules(30, before=15, after=15)) == ["09:00", "09:30"]


def test_busy_time_from_a_neighbouring_day_reaches_across_midnight() -> None:
    h = hours({1: windows(("00:00", "02:00"))})
    yesterdays_late_booking = [Interval(at(23, day=MONDAY), at(0, 30, day=TUESDAY))]

    assert starts(h, rules(30), yesterdays_late_booking, day=TUESDAY) == ["00:30", "01:00", "01:30"]


# --- notice, horizon, daily limit ------------------------------------------------------


def test_minimum_notice_hides_starts_before_now_plus_notice() -> None:
    h = hours()
    now = at(7, 30)

    assert starts(h, rules(60, notice=150), now=now)[:2] == ["10:00", "11:00"]
    assert check(h, rules(60, notice=150), at(9), now=now) is Rejection.TOO_SOON
    assert check(h, rules(60, notice=150), at(10), now=now) is None


def test_a_start_exactly_at_the_minimum_notice_is_offered() -> None:
    assert check(hours(), rules(60, notice=60), at(10), now=at(9)) is None


def test_max_advance_hides_starts_beyond_now_plus_the_horizon() -> None:
    now = at(11, day=MONDAY - timedelta(days=1))  # Sunday 11:00
    r = rules(60, advance=timedelta(days=1))

    assert starts(hours(), r, now=now) == ["09:00", "10:00", "11:00"]
    assert check(hours(), r, at(11), now=now) is None
    assert check(hours(), r, at(12), now=now) is Rejection.TOO_FAR


def test_starts_in_the_past_are_too_soon() -> None:
    assert check(hours(), rules(60), at(9), now=at(12)) is Rejection.TOO_SOON


def test_a_day_holding_max_per_day_bookings_offers_nothing() -> None:
    r = rules(60, max_per_day=2)

    assert starts(hours(), r, per_day={MONDAY: 1})[:1] == ["09:00"]
    assert starts(hours(), r, per_day={MONDAY: 2}) == []
    assert check(hours(), r, at(9), per_day={MONDAY: 2}) is Rejection.DAY_FULL
    assert check(hours(), r, at(9, day=TUESDAY), per_day={MONDAY: 2}) is None


def test_offered_slots_cover_every_day_of_a_range_in_order() -> None:
    slots = offered_slots(
        hours(), rules(240), [], {}, MONDAY, MONDAY + timedelta(days=6), LONG_BEFORE
    )

    assert [s.start for s in slots] == [
        at(h, day=MONDAY + timedelta(days=d)) for d in range(5) for h in (9, 13)
    ]


# --- check_start is offered_slots ---------------------------------------------------------


def test_check_start_accepts_exactly_the_offered_starts_of_a_busy_day() -> None:
    h = hours({0: windows(("08:00", "12:00"), ("13:00", "18:00"))})
    r = rules(45, interval=30, before=5, after=10, notice=60)
    busy = [
        Interval(at(9, 50), at(10, 35)),
        Interval(at(14, 3), at(15)),
        Interval(at(17), at(17, 1)),
    ]
    now = at(7, 30)
    offered = set(starts(h, r, busy, now=now))

    for minute in range(0, 24 * 60):
        start = at(minute // 60, minute % 60)
        verdict = check(h, r, start, busy, now=now)
        assert (verdict is None) == (start.strftime("%H:%M") in offered), start


def test_a_single_minute_of_overlap_is_a_clash() -> None:
    h = hours({0: windows(("09:00", "12:00"))})
    r = rules(60, before=5)

    # 09:00 needs 08:55 free; busy until 08:56 restarts stepping at 08:56 + 5 → 09:05.
    assert starts(h, r, [Interval(at(8), at(8, 56))]) == ["09:05", "10:05"]
    assert check(h, r, at(9), [Interval(at(8), at(8, 56))]) is Rejection.SLOT_UNAVAILABLE


def test_a_start_off_the_slot_grid_is_outside_availability() -> None:
    assert check(hours(), rules(60), at(9, 30)) is Rejection.OUTSIDE_AVAILABILITY
    assert check(hours(), rules(60), at(9, 0) + timedelta(seconds=1)) is (
        Rejection.OUTSIDE_AVAILABILITY
    )


def test_a_start_outside_every_window_is_outside_availability() -> None:
    assert check(hours(), rules(60), at(8)) is Rejection.OUTSIDE_AVAILABILITY
    assert check(hours(), rules(60), at(16, 30)) is Rejection.OUTSIDE_AVAILABILITY
    assert check(hours(), rules(60), at(17)) is Rejection.OUTSIDE_AVAILABILITY


def test_a_start_clashing_with_busy_time_is_slot_unavailable() -> None:
    busy = [Interval(at(10), at(11))]

    assert check(hours(), rules(60), at(10), busy) is Rejection.SLOT_UNAVAILABLE
    assert check(hours(), rules(60), at(11), busy) is None


# --- properties --------------------------------------------------------------------------

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FIVE_MINUTES = timedelta(minutes=5)
ZONES = [
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
]
DAYS = [
    date(2026, 3, 8),
    date(2026, 3, 9),
    date(2026, 3, 29),
    date(2026, 4, 5),
    date(2026, 10, 4),
    date(2026, 10, 25),
    date(2026, 11, 1),
    date(2026, 6, 17),
]


@st.composite
def day_windows(draw: st.DrawFn) -> list[LocalWindow]:
    """0-3 disjoint, well-formed windows on the 5-minute grid."""
    edges = sorted(
        draw(
            st.lists(
                st.integers(0, 288),
                min_size=draw(st.sampled_from([0, 2, 2, 2])),
                max_size=6,
                unique=True,
            )
        )
    )
    pairs = list(zip(edges[0::2], edges[1::2], strict=False))
    return [LocalWindow(a * 5, b * 5) for a, b in pairs]


def minutes_near_the_grid(low: int, high: int) -> st.SearchStrategy[int]:
    """Minutes, mostly within two minutes of the 5-minute grid, where off-by-one clashes hide."""
    near = st.tuples(st.integers(low // 5, high // 5), st.integers(-2, 2)).map(
        lambda p: min(max(p[0] * 5 + p[1], low), high)
    )
    return st.one_of(near, st.integers(low, high))


@st.composite
def scenarios(
    draw: st.DrawFn,
) -> tuple[WorkingHours, ServiceRules, list[Interval], dict[date, int], date, datetime]:
    tz = zone(draw(st.sampled_from(ZONES)))
    day = draw(st.sampled_from(DAYS))
    todays = draw(day_windows())
    if draw(st.booleans()):
        h = WorkingHours(tz, {day.weekday(): todays})
    else:
        h = WorkingHours(tz, {day.weekday(): draw(day_windows())}, {day: todays})
    duration = draw(st.integers(1, 36)) * 5
    r = ServiceRules(
        duration=timedelta(minutes=duration),
        interval=timedelta(
            minutes=draw(st.one_of(st.just(duration), st.integers(1, 36).map(lambda n: n * 5)))
        ),
        buffer_before=timedelta(minutes=draw(minutes_near_the_grid(0, 45))),
        buffer_after=timedelta(minutes=draw(minutes_near_the_grid(0, 45))),
        minimum_notice=timedelta(minutes=draw(st.one_of(st.just(0), st.integers(0, 36 * 60)))),
        max_advance=timedelta(
            minutes=draw(st.one_of(st.just(60 * 24 * 60), st.integers(0, 4 * 24 * 60)))
        ),
        max_per_day=draw(st.one_of(st.none(), st.none(), st.integers(1, 3))),
    )
    midnight = local_to_utc(day, 0, tz)
    # Busy time mostly starts near a window, where it can clash with candidates.
    anchors = st.sampled_from([w.start for w in todays] or [0])
    busy = [
        Interval(midnight + timedelta(minutes=a + s), midnight + timedelta(minutes=a + s + length))
        for a, s, length in draw(
            st.lists(
                st.tuples(
                    st.one_of(anchors, st.just(0)),
                    st.one_of(
                        minutes_near_the_grid(-120, 300), minutes_near_the_grid(-180, 26 * 60)
                    ),
                    minutes_near_the_grid(1, 240),
                ),
                max_size=8,
            )
        )
    ]
    per_day = {day: draw(st.integers(0, 3))}
    now = midnight + timedelta(
        minutes=draw(st.one_of(st.integers(-3 * 24 * 60, 0), st.integers(-3 * 24 * 60, 24 * 60)))
    )
    return h, r, busy, per_day, day, now


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios(), extra=st.lists(st.integers(0, 25 * 60 - 1), max_size=20))
def test_a_start_is_bookable_exactly_when_it_is_offered_and_offered_slots_are_free(
    scenario: tuple[WorkingHours, ServiceRules, list[Interval], dict[date, int], date, datetime],
    extra: list[int],
) -> None:
    h, r, busy, per_day, day, now = scenario
    offered = offered_slots(h, r, busy, per_day, day, day, now)
    offered_starts = {s.start for s in offered}
    day_windows_utc = h.windows_on(day)
    earliest, latest = now + r.minimum_notice, now + r.max_advance
    full = r.max_per_day is not None and per_day.get(day, 0) >= r.max_per_day
    event("offers slots" if offered else "offers nothing")

    # What is offered obeys every rule.
    assert [s.start for s in offered] == sorted(offered_starts)
    for slot in offered:
        assert slot.end - slot.start == r.duration
        assert (slot.start - EPOCH) % FIVE_MINUTES == timedelta(0)  # windows, steps, restarts
        assert any(w.contains(slot) for w in day_windows_utc)
        assert not any(r.padded(slot.start).overlaps(b) for b in busy)
        assert earliest <= slot.start <= latest
        assert not full
        assert local_date(slot.start, h.timezone) == day

    # Stepping carries on by the interval whenever nothing is in the way.
    def free(start: datetime, window: Interval) -> bool:
        return (
            window.contains(Interval(start, start + r.duration))
            and not any(r.padded(start).overlaps(b) for b in busy)
            and earliest <= start <= latest
            and not full
        )

    def clear(start: datetime, window: Interval) -> bool:
        return window.contains(Interval(start, start + r.duration)) and not any(
            r.padded(start).overlaps(b) for b in busy
        )

    for window in day_windows_utc:
        if free(window.start, window):
            assert window.start in offered_starts
        for slot in offered:
            if not window.contains(slot):
                continue
            if free(slot.start + r.interval, window):
                assert slot.start + r.interval in offered_starts
            # Each slot is the window start, a step from a clear candidate, or a restart
            # after busy time that came as soon as it could (5 minutes earlier clashes).
            assert (
                slot.start == window.start
                or clear(slot.start - r.interval, window)
                or not clear(slot.start - FIVE_MINUTES, window)
            ), slot

    # check_start says None exactly for the offered starts, and its reasons are true.
    midnight, next_midnight = local_to_utc(day, 0, h.timezone), local_to_utc(day, 1440, h.timezone)
    candidates = set(offered_starts)
    candidates.update(midnight + timedelta(minutes=m) for m in range(0, 25 * 60, 5))
    candidates.update(midnight + timedelta(minutes=m) for m in extra)
    for start in sorted(c for c in candidates if midnight <= c < next_midnight):
        verdict = check_start(h, r, busy, per_day, start, now)
        assert (verdict is None) == (start in offered_starts), start
        if verdict is Rejection.TOO_SOON:
            assert start < earliest
        elif verdict is Rejection.TOO_FAR:
            assert start > latest
        elif verdict is Rejection.DAY_FULL:
            assert full
        elif verdict is Rejection.SLOT_UNAVAILABLE:
            assert any(r.padded(start).overlaps(b) for b in busy)


def stepped_one_at_a_time(
    h: WorkingHours,
    r: ServiceRules,
    busy: list[Interval],
    per_day: dict[date, int],
    day: date,
    now: datetime,
) -> list[Interval]:
    """The day's offered slots as the rules tell them, one candidate at a time: from each
    window's start by the interval, a clash restarting at the end of the busy time it hit
    plus the buffer before, rounded up to 5 minutes. kairos.slots steps over each
    clash-free stretch at once; this is what it must equal."""
    if r.max_per_day is not None and per_day.get(day, 0) >= r.max_per_day:
        return []
    merged = merge(busy)
    slots = []
    for window in h.windows_on(day):
        t = window.start
        while t + r.duration <= window.end:
            clashes = [b for b in merged if r.padded(t).overlaps(b)]
            if clashes:
                restart = max(b.end for b in clashes) + r.buffer_before
                t = restart + (-(restart - EPOCH)) % FIVE_MINUTES
                continue
            if now + r.minimum_notice <= t <= now + r.max_advance:
                slots.append(Interval(t, t + r.duration))
            t += r.interval
    return slots


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios())
def test_the_offered_slots_are_those_stepped_one_candidate_at_a_time(
    scenario: tuple[WorkingHours, ServiceRules, list[Interval], dict[date, int], date, datetime],
) -> None:
    h, r, busy, per_day, day, now = scenario

    assert offered_slots(h, r, busy, per_day, day, day, now) == stepped_one_at_a_time(
        h, r, busy, per_day, day, now
    )
