"""Group commit: concurrent saves of one process share a statement and a transaction.

Every save takes the events table's lock and waits for its commit to reach the disk
(kairos.ordered_recorder). While one save is on its way, the saves that threads of the
same process ask for meanwhile queue; when it returns, the first of them takes the
whole queue to the database as one statement. So under load a transaction, its lock,
its commit and a round trip serve several saves (of different aggregates: saves of one
aggregate are already serialised by its command's lock), and a lone save goes out at
once, as before.

A save waits for the one on its way only briefly (`PATIENCE`: a statement and its commit
take a millisecond or two): if that one is held up (by a lock another transaction holds,
say), the saves behind it leave the queue and go on their own, as they would without
group commit, rather than queueing behind it in the process.

Each save is still answered on its own: when a shared statement fails because one of
them lost a race on an aggregate's version (`retry_alone`), each is tried again alone and
gets its own outcome; any other failure (the database is gone) is every one's answer, as
it would have been alone. A shared statement's events keep each save's order and commit
together, so notification ids still follow commit order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")

#: Seconds a save waits in the queue before it goes on its own.
PATIENCE = 0.02


class _Waiting(Generic[T]):
    def __init__(self, items: Sequence[T]) -> None:
        self.items = items
        self.turn = threading.Event()  # set when answered, or when it is to lead
        self.answered = False
        self.ids: Sequence[int] = ()
        self.error: BaseException | None = None

    def answer(self, ids: Sequence[int] | None = None, error: BaseException | None = None) -> None:
        self.ids, self.error, self.answered = ids or (), error, True
        self.turn.set()

    def result(self) -> Sequence[int]:
        if self.error is not None:
            raise self.error
        return self.ids


class GroupCommit(Generic[T]):
    """Runs `insert` (items → one id per item, in one statement) for concurrent callers,
    several callers' items at a time."""

    def __init__(
        self,
        insert: Callable[[Sequence[T]], Sequence[int]],
        retry_alone: type[Exception] | tuple[type[Exception], ...],
        patience: float = PATIENCE,
    ) -> None:
        self._insert = insert
        self._retry_alone = retry_alone
        self._patience = patience
        self._guard = threading.Lock()
        self._queue: list[_Waiting[T]] = []
        self._busy = False
        self.statements = 0  # how many statements it sent: the tests read it

    def __call__(self, items: Sequence[T]) -> Sequence[int]:
        mine = _Waiting(items)
        with self._guard:
            self._queue.append(mine)
            wait, self._busy = self._busy, True
        if wait:
            if not mine.turn.wait(self._patience) and self._left(mine):
                return self._run(mine.items)
            mine.turn.wait()
            if mine.answered:
                return mine.result()
        # This caller leads: everything queued so far, its own items included.
        with self._guard:
            batch, self._queue = self._queue, []
        try:
            self._commit(batch)
        finally:
            for waiting in batch:
                if not waiting.answered:  # _commit was interrupted: don't leave them waiting
                    waiting.answer(error=RuntimeError("the shared save was interrupted"))
            with self._guard:
                if self._queue:
                    self._queue[0].turn.set()  # the next in line leads the next batch
                else:
                    self._busy = False
        return mine.result()

    def _left(self, mine: _Waiting[T]) -> bool:
        """Take a save that waited too long out of the queue, unless a leader has taken it
        into a statement already or it was just made the next leader (its turn is set)."""
        with self._guard:
            if mine.turn.is_set() or mine not in self._queue:
                return False
            self._queue.remove(mine)
            return True

    def _commit(self, batch: list[_Waiting[T]]) -> None:
        if len(batch) > 1:
            try:
                ids = self._run([item for waiting in batch for item in waiting.items])
            except self._retry_alone:
                pass  # each is tried alone below, for its own outcome
            except Exception as error:
                for waiting in batch:
                    waiting.answer(error=error)
                return
            else:
                start = 0
                for waiting in batch:
                    waiting.answer(ids[start : start + len(waiting.items)])
                    start += len(waiting.items)
                return
        for waiting in batch:
            try:
                waiting.answer(self._run(waiting.items))
            except Exception as error:  # its caller raises it
                waiting.answer(error=error)

    def _run(self, items: Sequence[T]) -> Sequence[int]:
        with self._guard:
            self.statements += 1
        ids = self._insert(items)
        if len(ids) != len(items):
            raise RuntimeError(f"{len(ids)} ids for {len(items)} events")
        return ids
