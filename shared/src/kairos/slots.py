"""The slot rules of ARCHITECTURE.md, as one pure function of the specialist's state.

`offered_slots` is what `GET /v1/slots` shows; `check_start` is what the booking
write side asks before it claims a time. `check_start` answers "bookable"
exactly when `offered_slots` offers that start, because both take the day's
candidates from one generator (check_start stops at the start it is asked
about). Nothing here reads the clock: `now` is always passed in.
"""

from __future__ import annotations

import bisect
import enum
import inspect
from collections.abc import Iterable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from kairos.timezones import local_date, local_to_utc

ROUNDING = timedelta(minutes=5)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, order=True)
class Interval:
    """Half-open [start, end) in UTC."""

    start: datetime
    end: datetime

    def overlaps(self, other: Interval) -> bool:
        return self.start < other.end and other.start < self.end

    def contains(self, other: Interval) -> bool:
        return self.start <= other.start and other.end <= self.end


@dataclass(frozen=True)
class LocalWindow:
    """A working window in local wall time, minutes since midnight (end may be 1440 = 24:00)."""

    start: int
    end: int


@dataclass(frozen=True)
class WorkingHours:
    """Weekly windows (0 = Monday) and per-date overrides; an override of () blocks the day."""

    timezone: ZoneInfo
    weekly: Mapping[int, Sequence[LocalWindow]]
    overrides: Mapping[date, Sequence[LocalWindow]] = field(default_factory=dict)

    def windows_on(self, day: date) -> list[Interval]:
        local = self.overrides.get(day)
        if local is None:
            local = self.weekly.get(day.weekday(), ())
        return [
            Interval(
                local_to_utc(day, w.start, self.timezone), local_to_utc(day, w.end, self.timezone)
            )
            for w in sorted(local, key=lambda w: w.start)
        ]


@dataclass(frozen=True)
class ServiceRules:
    duration: timedelta
    interval: timedelta
    buffer_before: timedelta = timedelta(0)
    buffer_after: timedelta = timedelta(0)
    minimum_notice: timedelta = timedelta(0)
    max_advance: timedelta = timedelta(days=60)
    max_per_day: int | None = None

    @classmethod
    def from_minutes(
        cls,
        *,
        duration_minutes: int,
        slot_interval_minutes: int | None,
        buffer_before_minutes: int,
        buffer_after_minutes: int,
        minimum_notice_minutes: int,
        max_advance_days: int,
        max_per_day: int | None,
    ) -> ServiceRules:
        """The rules of a service defined as the API and the events spell it."""
        duration = timedelta(minutes=duration_minutes)
        return cls(
            duration=duration,
            interval=timedelta(minutes=slot_interval_minutes)
            if slot_interval_minutes
            else duration,
            buffer_before=timedelta(minutes=buffer_before_minutes),
            buffer_after=timedelta(minutes=buffer_after_minutes),
            minimum_notice=timedelta(minutes=minimum_notice_minutes),
            max_advance=timedelta(days=max_advance_days),
            max_per_day=max_per_day,
        )

    @classmethod
    def of(cls, definition: object) -> ServiceRules:
        """The rules of a service definition that has RULE_FIELDS as attributes (the booking
        domain's terms, a ServiceDefined payload)."""
        return cls.from_minutes(**{name: getattr(definition, name) for name in RULE_FIELDS})

    def padded(self, start: datetime) -> Interval:
        """The interval a booking starting at `start` keeps busy: itself plus its buffers."""
        return Interval(start - self.buffer_before, start + self.duration + self.buffer_after)


RULE_FIELDS = tuple(inspect.signature(ServiceRules.from_minutes).parameters)
"""The fields of a service definition the slot rules read: from_minutes names them."""


class Rejection(enum.Enum):
    """Why a start time is not bookable; values are the API's error codes."""

    TOO_SOON = "too_soon"
    TOO_FAR = "too_far"
    OUTSIDE_AVAILABILITY = "outside_availability"
    DAY_FULL = "day_full"
    SLOT_UNAVAILABLE = "slot_unavailable"


def _bounds(interval: Interval) -> tuple[datetime, datetime]:
    return interval.start, interval.end


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, disjoint union of `intervals`.

    Touching intervals stay apart: [a, b) and [b, c) don't clash.
    """
    merged: list[Interval] = []
    for iv in sorted(intervals, key=_bounds):  # a key: the dataclass's __lt__ is Python
        if merged and iv.start < merged[-1].end:
            if iv.end > merged[-1].end:
                merged[-1] = Interval(merged[-1].start, iv.end)
        else:
            merged.append(iv)
    return merged


@dataclass(frozen=True)
class BusyTimes:
    """Busy intervals merged once (sorted, disjoint), ready for many slot queries."""

    intervals: tuple[Interval, ...]
    starts: tuple[datetime, ...]

    @classmethod
    def of(cls, intervals: Iterable[Interval]) -> BusyTimes:
        merged = merge(intervals)
        return cls(tuple(merged), tuple(iv.start for iv in merged))

    def clash(self, start: datetime, end: datetime) -> tuple[Interval | None, int]:
        """The busy interval [start, end) overlaps, if any, and the index of the first
        busy interval starting at or after `end` (the next that a later time can meet)."""
        # Disjoint and sorted: only the interval starting last before `end` can overlap.
        i = bisect.bisect_left(self.starts, end)
        if i and self.intervals[i - 1].end > start:
            return self.intervals[i - 1], i
        return None, i


def _round_up(instant: datetime) -> datetime:
    remainder = (instant - _EPOCH) % ROUNDING
    return instant if not remainder else instant + (ROUNDING - remainder)


def _runs(window: Interval, rules: ServiceRules, busy: BusyTimes) -> Iterator[tuple[datetime, int]]:
    """The candidate starts in one window, as runs `(first, count)`: the starts
    `first + k·interval` for k < count, ascending.

    Stepping goes from the window's start by the interval; a candidate whose padded time
    clashes with busy time restarts it at the earliest start that clears the clash,
    rounded up to the 5-minute grid. Between clashes the steps are arithmetic, so each
    clash-free stretch is one run, found from the next busy interval alone: the cost is
    the number of busy intervals, not of slots (a booking checks one start of its day).
    """
    # Plain datetimes, not a padded Interval per candidate: this loop is most of a slot
    # check's time.
    before, after = rules.buffer_before, rules.duration + rules.buffer_after
    last = window.end - rules.duration  # the latest start that still fits the window
    t = window.start
    while t <= last:
        padded_end = t + after
        clash, upcoming = busy.clash(t - before, padded_end)
        if clash is not None:
            t = _round_up(clash.end + before)
            continue
        # Nothing before the padded time reaches it (busy time is disjoint and sorted), so
        # the first step that can clash is the first whose padded end passes the next busy
        # start.
        steps = (last - t) // rules.interval + 1
        if upcoming < len(busy.starts):
            steps = min(steps, (busy.starts[upcoming] - padded_end) // rules.interval + 1)
        yield t, steps
        t += steps * rules.interval


def offered_slots(
    hours: WorkingHours,
    rules: ServiceRules,
    busy: BusyTimes | Iterable[Interval],
    bookings_per_day: Mapping[date, int],
    first_day: date,
    last_day: date,
    now: datetime,
    *,
    memo: MutableMapping[date, list[Interval]] | None = None,
) -> list[Interval]:
    """Every offered slot on the specialist's local dates first_day..last_day, ascending.

    `busy` holds padded intervals of existing bookings, holds and external busy
    time; `bookings_per_day` counts this service's bookings per local date.

    A day's candidates depend on the state alone, not on `now` (which only cuts
    them to the notice and horizon window), so a caller that holds the state
    unchanged may pass a `memo` to keep them per day between calls.
    """
    timeline = busy if isinstance(busy, BusyTimes) else BusyTimes.of(busy)
    earliest, latest = now + rules.minimum_notice, now + rules.max_advance
    slots: list[Interval] = []
    day = first_day
    while day <= last_day:
        candidates = memo.get(day) if memo is not None else None
        if candidates is None:
            candidates = list(_day_slots(hours, rules, timeline, bookings_per_day, day))
            if memo is not None:
                memo[day] = candidates
        slots.extend(slot for slot in candidates if earliest <= slot.start <= latest)
        day += timedelta(days=1)
    return slots


def _day_runs(
    hours: WorkingHours,
    rules: ServiceRules,
    busy: BusyTimes,
    bookings_per_day: Mapping[date, int],
    day: date,
) -> Iterator[tuple[datetime, int]]:
    """A local date's candidate starts before the clock is consulted, as runs (_runs)."""
    if rules.max_per_day is not None and bookings_per_day.get(day, 0) >= rules.max_per_day:
        return
    for window in hours.windows_on(day):
        yield from _runs(window, rules, busy)


def _day_slots(
    hours: WorkingHours,
    rules: ServiceRules,
    busy: BusyTimes,
    bookings_per_day: Mapping[date, int],
    day: date,
) -> Iterator[Interval]:
    """A local date's slots before the clock is consulted, ascending."""
    for first, count in _day_runs(hours, rules, busy, bookings_per_day, day):
        for k in range(count):
            t = first + k * rules.interval
            yield Interval(t, t + rules.duration)


def check_start(
    hours: WorkingHours,
    rules: ServiceRules,
    busy: Iterable[Interval],
    bookings_per_day: Mapping[date, int],
    start: datetime,
    now: datetime,
) -> Rejection | None:
    """None when `start` is offered by `offered_slots`; otherwise the reason it is not."""
    busy = list(busy)
    day = local_date(start, hours.timezone)
    wanted = Interval(start, start + rules.duration)
    # offered_slots keeps the candidates between these two bounds.
    if start < now + rules.minimum_notice:
        return Rejection.TOO_SOON
    if start > now + rules.max_advance:
        return Rejection.TOO_FAR
    # offered_slots' first candidate of the day at or after the one asked about.
    for first, count in _day_runs(hours, rules, BusyTimes.of(busy), bookings_per_day, day):
        if first + (count - 1) * rules.interval >= start:
            if first <= start and (start - first) % rules.interval == timedelta(0):
                return None
            break
    if not any(w.contains(wanted) for w in hours.windows_on(day)):
        return Rejection.OUTSIDE_AVAILABILITY
    if rules.max_per_day is not None and bookings_per_day.get(day, 0) >= rules.max_per_day:
        return Rejection.DAY_FULL
    padded = rules.padded(start)
    if any(padded.overlaps(b) for b in busy):
        return Rejection.SLOT_UNAVAILABLE
    # Inside a window and clear of busy time, but not on the slot grid.
    return Rejection.OUTSIDE_AVAILABILITY
