"""The round-robin rule (kairos.assignment): pure, with `now` passed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kairos.assignment import DEFAULT_WINDOW, Member, ranked, still_weighed

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
A, B, C = (UUID(int=n) for n in (1, 2, 3))


def ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)


def test_the_member_with_the_fewest_recent_bookings_comes_first() -> None:
    members = [Member(A), Member(B), Member(C)]
    assigned = {A: [ago(hours=1)] * 3, B: [ago(hours=2)], C: [ago(hours=3)] * 2}

    assert ranked(members, {A, B, C}, assigned, NOW) == [B, C, A]


def test_only_free_members_are_ranked() -> None:
    assert ranked([Member(A), Member(B), Member(C)], [C, A], {}, NOW) == [A, C]


def test_bookings_outside_the_window_do_not_count() -> None:
    assigned = {A: [ago(days=40)] * 5, B: [ago(days=1)]}

    assert ranked([Member(A), Member(B)], {A, B}, assigned, NOW, window=timedelta(days=30)) == [
        A,
        B,
    ]


def test_a_tie_goes_to_the_one_booked_longest_ago_then_to_priority() -> None:
    never = Member(C, priority=0)
    assigned = {A: [ago(hours=1)], B: [ago(hours=5)]}

    assert ranked([Member(A), Member(B)], {A, B}, assigned, NOW) == [B, A]
    # Never booked counts as longest ago; between two such, the higher priority wins.
    assert ranked([Member(A, priority=1), never], {A, C}, {}, NOW) == [A, C]
    assert ranked([Member(A), Member(C, priority=2)], {A, C}, {}, NOW) == [C, A]


def test_weight_divides_the_count() -> None:
    members = [Member(A, weight=3), Member(B, weight=1)]
    assigned = {A: [ago(hours=1)] * 2, B: [ago(hours=2)]}

    # 2/3 < 1/1: the heavier member is still due more.
    assert ranked(members, {A, B}, assigned, NOW) == [A, B]


def test_bookings_after_now_are_ignored() -> None:
    assigned = {A: [NOW + timedelta(hours=1)] * 4, B: [ago(hours=1)]}

    assert ranked([Member(A), Member(B)], {A, B}, assigned, NOW) == [A, B]


def _by_member(assignments: dict[int, tuple[UUID, datetime]]) -> dict[UUID, list[datetime]]:
    times: dict[UUID, list[datetime]] = {}
    for member, at in assignments.values():
        times.setdefault(member, []).append(at)
    return times


# Up to 120 assignments over 120 days (the window is 30), each to one of three members.
HISTORIES = st.lists(st.tuples(st.sampled_from([A, B, C]), st.integers(0, 120 * 24)), max_size=120)


@given(HISTORIES, st.integers(0, 60 * 24), st.lists(st.sampled_from([A, B, C]), min_size=1))
def test_what_a_tally_forgets_changes_no_later_ranking(
    history: list[tuple[UUID, int]], hours_later: int, free: list[UUID]
) -> None:
    """Pruned after every assignment, as the tally does, the ranking at any later time
    is the one the whole history gives."""
    members = [Member(A, weight=2), Member(B), Member(C, priority=1)]
    full: dict[int, tuple[UUID, datetime]] = {}
    kept: dict[int, tuple[UUID, datetime]] = {}
    at = NOW
    for n, (member, hour) in enumerate(sorted(history, key=lambda h: h[1])):
        at = NOW + timedelta(hours=hour)
        full[n] = kept[n] = (member, at)
        kept = still_weighed(kept, at)
    later = at + timedelta(hours=hours_later)

    assert ranked(members, free, _by_member(kept), later) == ranked(
        members, free, _by_member(full), later
    )
    # What is kept: the window's assignments, and one more per member at most.
    in_window = sum(1 for _, t in full.values() if t > at - DEFAULT_WINDOW)
    assert in_window <= len(kept) <= in_window + len(members)
