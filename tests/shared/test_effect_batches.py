"""A `BatchEffectHandler` against a real PostgreSQL: it gets every effect of its kind
that a dispatcher claimed together, in one call, and what it says of each is recorded
as an `EffectHandler`'s outcome would be (done, skipped, retried, parked)."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import timedelta
from uuid import UUID, uuid4

import psycopg
import pytest

from kairos.effects import (
    Backoff,
    BatchEffectHandler,
    BatchOutcome,
    Effect,
    EffectDispatcher,
    EffectHandler,
    EffectKind,
    TransientEffectError,
    record_effect,
)
from tests.shared.effects_fakes import REMINDER, Clock, Reminder, prepare, remind, statuses

pytestmark = [pytest.mark.integration]

OTHER = EffectKind("test.other-reminder", Reminder)


@pytest.fixture
def url(fresh_database: Callable[[], str]) -> str:
    url = fresh_database()
    prepare(url)
    return url


class Batches:
    """Performs a batch by the answers it was given per booking (True by default)."""

    def __init__(self, answers: dict[UUID, BatchOutcome] | None = None) -> None:
        self.answers = answers or {}
        self.calls: list[list[UUID]] = []

    def __call__(self, effects: Sequence[Effect[Reminder]]) -> list[BatchOutcome]:
        self.calls.append([effect.id for effect in effects])
        return [self.answers.get(effect.data.booking_id, True) for effect in effects]


def dispatcher(
    url: str,
    clock: Clock,
    batches: Callable[[Sequence[Effect[Reminder]]], Sequence[BatchOutcome]],
    singles: list[UUID] | None = None,
) -> EffectDispatcher:
    """Reminders go in batches; the OTHER kind's effects one at a time, into `singles`."""
    alone = singles if singles is not None else []
    return EffectDispatcher(
        url,
        [
            BatchEffectHandler(REMINDER, batches, max_attempts=2),
            EffectHandler(OTHER, lambda effect: alone.append(effect.id)),
        ],
        clock=clock,
        backoff=Backoff(base=timedelta(seconds=10), cap=timedelta(minutes=1)),
        rng=random.Random(7),
        batch_size=10,
    )


def other(url: str, clock: Clock) -> UUID:
    booking_id = uuid4()
    with psycopg.connect(url) as conn, conn.transaction():
        return record_effect(
            conn,
            OTHER,
            Reminder(booking_id=booking_id, minutes_before=5),
            key=str(booking_id),
            reason=f"booking:{booking_id}",
            due_at=clock.now,
        )


def test_a_claimed_batch_of_a_kind_is_performed_in_one_call(url: str) -> None:
    clock, batches = Clock(), Batches()
    reminders = [remind(url, clock) for _ in range(12)]

    with dispatcher(url, clock, batches) as d:
        assert d.drain() == 12

    assert [len(call) for call in batches.calls] == [10, 2]  # batch_size at a time
    assert sorted(id_ for call in batches.calls for id_ in call) == sorted(reminders)
    assert set(statuses(url).values()) == {("done", 1)}


def test_the_other_kinds_of_a_batch_are_performed_one_at_a_time_beside_it(url: str) -> None:
    clock, batches = Clock(), Batches()
    singles: list[UUID] = []
    reminders = [remind(url, clock) for _ in range(4)]
    others = [other(url, clock) for _ in range(3)]

    with dispatcher(url, clock, batches, singles) as d:
        assert d.drain() == 7

    assert [sorted(call) for call in batches.calls] == [sorted(reminders)]
    assert sorted(singles) == sorted(others)
    assert set(statuses(url).values()) == {("done", 1)}


def test_each_effect_of_a_batch_ends_as_its_handler_said(url: str) -> None:
    clock = Clock()
    sent, moot, later, refused = (UUID(int=n) for n in range(1, 5))
    ids = {booking: remind(url, clock, booking) for booking in (sent, moot, later, refused)}
    batches = Batches(
        {moot: False, later: TransientEffectError("try later"), refused: ValueError("no")}
    )

    with dispatcher(url, clock, batches) as d:
        d.drain()
        assert statuses(url) == {
            ids[sent]: ("done", 1),
            ids[moot]: ("skipped", 1),
            ids[later]: ("pending", 1),  # given back, due after the backoff
            ids[refused]: ("parked", 1),
        }
        clock.advance(timedelta(minutes=2))
        d.drain()

    assert statuses(url)[ids[later]] == ("parked", 2)  # its last attempt
    assert batches.calls[-1] == [ids[later]]


def test_a_batch_that_fails_as_a_whole_fails_each_of_its_effects(url: str) -> None:
    clock = Clock()
    reminders = [remind(url, clock) for _ in range(3)]

    def broken(effects: Sequence[Effect[Reminder]]) -> list[BatchOutcome]:
        raise TransientEffectError("the database went away")

    with dispatcher(url, clock, broken) as d:
        d.drain()

    assert statuses(url) == {id_: ("pending", 1) for id_ in reminders}


def test_a_batch_handler_must_say_what_became_of_each_effect(url: str) -> None:
    clock = Clock()
    reminders = [remind(url, clock) for _ in range(3)]

    with dispatcher(url, clock, lambda effects: [True]) as d:
        d.drain()

    # One answer for three effects is a bug: none of them counts as performed.
    assert statuses(url) == {id_: ("parked", 1) for id_ in reminders}
