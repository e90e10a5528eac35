"""The round-robin rule (kairos.assignment): pure, with `now` passed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from kairos.assignment import Member, ranked

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
