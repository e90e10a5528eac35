"""Group commit (kairos.group_commit) on a real event store: saves that threads ask for
while another is on its way go out together, and each is answered on its own."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, StoredEvent

from kairos.eventstore import open_application
from kairos.group_commit import GroupCommit
from kairos.ordered_recorder import OrderedInsertRecorder

pytestmark = pytest.mark.integration

SAVERS = 12


class Store(Application[UUID]):
    name = "grouped"


@pytest.fixture
def recorder(fresh_database: Callable[[], str]) -> Iterator[OrderedInsertRecorder]:
    app = open_application(lambda env: Store(env=env), fresh_database())
    assert isinstance(app.recorder, OrderedInsertRecorder)
    yield app.recorder
    app.close()


def events(originator: UUID, versions: Sequence[int]) -> list[StoredEvent]:
    return [StoredEvent(originator, v, "tests:Thing.Happened", b"{}") for v in versions]


def held_first(recorder: OrderedInsertRecorder, queued: threading.Barrier) -> GroupCommit[Any]:
    """A group commit over the recorder's real statement whose first statement waits until
    every saver has asked (so the rest queue behind it, whatever the scheduler does)."""
    first = threading.Event()

    def insert(items: Sequence[StoredEvent]) -> Sequence[int]:
        if not first.is_set():
            first.set()
            queued.wait(10)
        return recorder._insert(items)

    return GroupCommit(insert, retry_alone=IntegrityError, patience=60)


def save_concurrently(
    commit: GroupCommit[Any], saves: list[list[StoredEvent]], queued: threading.Barrier
) -> list[Sequence[int] | Exception]:
    outcomes: list[Sequence[int] | Exception] = [()] * len(saves)

    def save(i: int) -> None:
        try:
            outcomes[i] = commit(saves[i])
        except Exception as error:  # the outcome under test
            outcomes[i] = error

    threads = [threading.Thread(target=save, args=(i,)) for i in range(len(saves))]
    for thread in threads:
        thread.start()
    # Every saver but the first is queued (or about to be) once it has started; give them
    # the moment it takes to append themselves, then let the first statement go.
    while len(commit._queue) < len(saves) - 1:
        threading.Event().wait(0.001)
    queued.wait(10)
    for thread in threads:
        thread.join(10)
    return outcomes


def test_saves_asked_for_meanwhile_share_one_statement_and_each_gets_its_ids(
    recorder: OrderedInsertRecorder,
) -> None:
    queued = threading.Barrier(2)
    commit = held_first(recorder, queued)
    saves = [events(uuid4(), [1, 2]) for _ in range(SAVERS)]
    outcomes = save_concurrently(commit, saves, queued)

    assert commit.statements == 2  # the first alone, then everyone who queued behind it
    stored = {
        (n.originator_id, n.originator_version): n.id
        for n in recorder.select_notifications(None, 100)
    }
    for save, ids in zip(saves, outcomes, strict=True):
        assert not isinstance(ids, Exception)
        assert list(ids) == [stored[(e.originator_id, e.originator_version)] for e in save]
    assert sorted(stored.values()) == list(range(1, 2 * SAVERS + 1))  # no gaps: commit order


def test_a_save_that_fails_in_a_shared_statement_fails_alone(
    recorder: OrderedInsertRecorder,
) -> None:
    taken = uuid4()
    recorder._insert(events(taken, [1]))
    queued = threading.Barrier(2)
    commit = held_first(recorder, queued)
    saves = [events(uuid4(), [1]) for _ in range(SAVERS)]
    saves[SAVERS // 2] = events(taken, [1])  # lost a race on this version
    outcomes = save_concurrently(commit, saves, queued)

    failed = [i for i, outcome in enumerate(outcomes) if isinstance(outcome, Exception)]
    assert failed == [SAVERS // 2]
    assert isinstance(outcomes[SAVERS // 2], IntegrityError)
    saved = {n.originator_id for n in recorder.select_notifications(None, 100)}
    assert saved == {save[0].originator_id for save in saves}


def test_the_recorder_saves_through_its_group_commit(recorder: OrderedInsertRecorder) -> None:
    before = recorder._group_commit.statements
    ids = recorder.insert_events(events(uuid4(), [1, 2, 3]))
    assert len(ids) == 3
    assert recorder._group_commit.statements == before + 1


def test_any_other_failure_of_a_shared_statement_is_every_ones_answer_at_once(
    recorder: OrderedInsertRecorder,
) -> None:
    queued = threading.Barrier(2)
    first = threading.Event()

    class Gone(Exception):
        pass

    def insert(items: Sequence[StoredEvent]) -> Sequence[int]:
        if not first.is_set():
            first.set()
            queued.wait(10)
            return recorder._insert(items)
        raise Gone("the database went away")  # not worth trying each alone

    commit = GroupCommit(insert, retry_alone=IntegrityError, patience=60)
    outcomes = save_concurrently(commit, [events(uuid4(), [1]) for _ in range(SAVERS)], queued)

    assert sum(isinstance(outcome, Gone) for outcome in outcomes) == SAVERS - 1
    assert commit.statements == 2


def test_saves_behind_one_that_is_held_up_go_on_their_own(
    recorder: OrderedInsertRecorder,
) -> None:
    """The first statement waits (as on a lock another transaction holds) until every other
    save has been answered: they left the queue and were saved without it."""
    others_done = threading.Event()
    first = threading.Event()

    def insert(items: Sequence[StoredEvent]) -> Sequence[int]:
        if not first.is_set():
            first.set()
            assert others_done.wait(10), "the saves behind the held one were not answered"
        return recorder._insert(items)

    commit = GroupCommit(insert, retry_alone=IntegrityError, patience=0.01)
    saves = [events(uuid4(), [1]) for _ in range(SAVERS)]
    outcomes: list[Sequence[int] | Exception] = [()] * SAVERS

    def save(i: int) -> None:
        outcomes[i] = commit(saves[i])

    leader = threading.Thread(target=save, args=(0,))
    leader.start()
    while not first.is_set():
        threading.Event().wait(0.001)
    others = [threading.Thread(target=save, args=(i,)) for i in range(1, SAVERS)]
    for thread in others:
        thread.start()
    for thread in others:
        thread.join(10)
    others_done.set()
    leader.join(10)

    assert all(len(outcome) == 1 for outcome in outcomes if not isinstance(outcome, Exception))
    assert not any(isinstance(outcome, Exception) for outcome in outcomes)
    assert commit.statements == SAVERS  # each of them alone
