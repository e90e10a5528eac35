"""Commands on a specialist's busy days: they wait their turn, retry a lost race, and
never pass "we were busy" off as "the slot is taken".

Every booking of one specialist's day writes that day's ledger, so concurrent commands
on a popular day collide on its version number. The loser runs again on the reloaded
state: a 409 only ever comes from the slot rules deciding against that state. Losing is
bounded by time, not by a count of attempts (under a storm the twentieth request may
lose nineteen times, which says nothing about its slot); when the time is up the answer
is `503 busy` with Retry-After.

Within one process, commands on the same ledgers take a lock per ledger first, so they
queue instead of racing: a lost race costs a whole load-check-save, a wait costs nothing.
Between processes the race remains and the retry settles it, after a short random pause
so the losers don't all come back at once.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from booking.domain import DomainError

T = TypeVar("T")

# Pauses after a race lost to another process: random up to this, doubling to the cap.
FIRST_PAUSE_SECONDS = 0.002
MAX_PAUSE_SECONDS = 0.05
# Contention budget of a command unless the service sets its own.
DEFAULT_TIMEOUT = timedelta(seconds=5)


class Busy(DomainError):
    """No decision within the time budget: the client should simply send it again."""

    code = "busy"
    status = 503
    retry_after_seconds = 1

    def __init__(self) -> None:
        super().__init__(
            "too many requests for this specialist's time at once; send it again",
            {"retry_after_seconds": self.retry_after_seconds},
        )

    @property
    def headers(self) -> Mapping[str, str]:
        return {"Retry-After": str(self.retry_after_seconds)}


@dataclass
class _Entry:
    # Reentrant: a command may run another on the same ledgers within its attempt.
    lock: threading.RLock
    users: int = 0


class LedgerLocks:
    """One lock per ledger id in this process, held while a command loads, checks and saves
    that ledger. Locks exist only while someone holds or waits for them."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._entries: dict[UUID, _Entry] = {}

    @contextmanager
    def holding(self, ledger_ids: Iterable[UUID], deadline: float) -> Iterator[None]:
        """Hold every lock of `ledger_ids` (taken in id order, so two commands never wait for
        each other crosswise), or raise Busy if they aren't all free by `deadline`."""
        ordered = sorted(set(ledger_ids))
        entries = self._enter(ordered)
        held: list[_Entry] = []
        try:
            for entry in entries:
                if not entry.lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
                    raise Busy()
                held.append(entry)
            yield
        finally:
            for entry in reversed(held):
                entry.lock.release()
            self._leave(ordered)

    def __len__(self) -> int:
        with self._guard:
            return len(self._entries)

    def _enter(self, ids: list[UUID]) -> list[_Entry]:
        with self._guard:
            entries = [self._entries.setdefault(i, _Entry(threading.RLock())) for i in ids]
            for entry in entries:
                entry.users += 1
            return entries

    def _leave(self, ids: list[UUID]) -> None:
        with self._guard:
            for ledger_id in ids:
                entry = self._entries[ledger_id]
                entry.users -= 1
                if entry.users == 0:
                    del self._entries[ledger_id]


class Contention:
    """Runs a load-check-save command on some ledgers until it is decided or time is up."""

    def __init__(self, timeout: timedelta = DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout
        self.locks = LedgerLocks()

    def run(self, ledger_ids: Iterable[UUID], attempt: Callable[[], T]) -> T:
        """`attempt()`'s result, or the domain error it raised on fresh state. Each attempt
        must load what it checks: a retry has to see the state that beat the last one."""
        ids = list(ledger_ids)
        deadline = time.monotonic() + self.timeout.total_seconds()
        pause = FIRST_PAUSE_SECONDS
        while True:
            with self.locks.holding(ids, deadline):
                try:
                    return attempt()
                except IntegrityError:
                    pass  # someone else saved one of these aggregates first: look again
            wait = random.uniform(0, pause)
            if time.monotonic() + wait >= deadline:
                raise Busy()
            time.sleep(wait)
            pause = min(pause * 2, MAX_PAUSE_SECONDS)
