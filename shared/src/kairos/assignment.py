"""Round-robin assignment: which free member of a team takes a booking.

The rule (issue 15), as one pure function beside the slot rules: among the members
free at the start, the one with the fewest of the team's bookings in a rolling window,
counted against their weight (a member of weight 2 is due twice as many); ties go to
the one whose last booking is longest ago (never booked: first), then to the higher
priority, then to the lower id so the answer never depends on iteration order. Like
the slot rules it never reads the clock: `now` is passed in.

`ranked` gives every free member in that order, not just the first: when the first
loses a race for the time, the write side tries the next before answering 409.
`still_weighed` is what of a team's past assignments the rule can still read: what a
tally keeps, so that it stays as large as the window, not as the team's history.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import TypeVar
from uuid import UUID

K = TypeVar("K", bound=Hashable)
M = TypeVar("M", bound=Hashable)

#: How far back a member's bookings of the team count toward their share.
DEFAULT_WINDOW = timedelta(days=30)


@dataclass(frozen=True)
class Member:
    """A team member as the admin set them up."""

    specialist_id: UUID
    weight: int = 1  # relative share of the team's bookings, ≥ 1
    priority: int = 0  # higher wins a tie that the window's counts leave


def ranked(
    members: Sequence[Member],
    free: Iterable[UUID],
    assigned: Mapping[UUID, Sequence[datetime]],
    now: datetime,
    window: timedelta = DEFAULT_WINDOW,
) -> list[UUID]:
    """The members among `free`, best first; `assigned` holds when each member was
    given a booking of this team (any order; times outside the window don't count)."""
    available = set(free)
    since = now - window

    def key(member: Member) -> tuple[Fraction, datetime, int, UUID]:
        past = [at for at in assigned.get(member.specialist_id, ()) if at <= now]
        recent = sum(1 for at in past if at > since)
        last = max(past, default=datetime.min.replace(tzinfo=now.tzinfo))
        return (Fraction(recent, member.weight), last, -member.priority, member.specialist_id)

    return [m.specialist_id for m in sorted(members, key=key) if m.specialist_id in available]


def still_weighed(
    assignments: Mapping[K, tuple[M, datetime]],
    now: datetime,
    window: timedelta = DEFAULT_WINDOW,
) -> dict[K, tuple[M, datetime]]:
    """Of `assignments` (booking → (member, when assigned)), those `ranked` still reads
    at `now` or later with the same `window`: the ones inside the window (counted), and
    one of each member's latest (the "longest since their last booking" tie-break: one
    is enough, however many share that time). Dropping the rest changes no ranking from
    `now` on; it only stops a tally from growing.

    One difference remains: if a member's latest booking, already outside the window,
    is reassigned, their tie-break falls back to "never booked" instead of their
    previous booking, itself outside the window and long forgotten."""
    since = now - window
    latest: dict[M, tuple[datetime, K]] = {}
    for booking, (member, at) in assignments.items():
        if member not in latest or at > latest[member][0]:
            latest[member] = (at, booking)
    kept_latest = {booking for _, booking in latest.values()}
    return {
        booking: (member, at)
        for booking, (member, at) in assignments.items()
        if at > since or booking in kept_latest
    }
