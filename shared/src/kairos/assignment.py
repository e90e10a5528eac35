"""Round-robin assignment: which free member of a team takes a booking.

The rule (issue 15), as one pure function beside the slot rules: among the members
free at the start, the one with the fewest of the team's bookings in a rolling window,
counted against their weight (a member of weight 2 is due twice as many); ties go to
the one whose last booking is longest ago (never booked: first), then to the higher
priority, then to the lower id so the answer never depends on iteration order. Like
the slot rules it never reads the clock: `now` is passed in.

`ranked` gives every free member in that order, not just the first: when the first
loses a race for the time, the write side tries the next before answering 409.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from uuid import UUID

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
