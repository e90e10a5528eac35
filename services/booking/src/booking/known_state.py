"""What this process last read or saved of the ledgers and the catalog, and the moment
each was known current.

A request may be decided against any state the store held at some moment while the
request was in flight: that is the moment it takes effect (linearizability). So a
booking that waited in this process's queue for a ledger (booking.contention) while
the request ahead saved it needs no read of it: the state saved then was current
after this request arrived. Under a storm on one slot, every loser that queued behind
the winner is refused without a round trip, and on a popular specialist's day each
request reads nothing the one before it saved. A ledger known from earlier is read
only for the events after the version held. A slot is still only taken by a save,
which the store refuses if the ledger moved meanwhile (and the copy is then not used
again: see `get`).

Only commands holding a ledger's lock (booking.contention) use its copy, so a copy is
never in two threads' hands at once. The catalog (services, teams, specialists) is
cached by the application's repository; this only notes the versions a read found
still current, and when.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import NamedTuple
from uuid import UUID

from booking.domain import DayLedger


class Known(NamedTuple):
    ledger: DayLedger
    version: int
    at: float  # time.monotonic(): the state was current at this moment or later


#: Ledgers kept: a ledger is a few hundred bytes per booking it holds.
MAX_LEDGERS = 10_000


class KnownState:
    """Up to `maxsize` ledgers, least recently used first out, and the catalog's versions."""

    def __init__(self, maxsize: int = MAX_LEDGERS) -> None:
        self._maxsize = maxsize
        self._entries: OrderedDict[UUID, Known] = OrderedDict()
        self._guard = threading.Lock()
        self._confirmed: dict[UUID, tuple[int, float]] = {}

    def get(self, ledger_id: UUID) -> Known | None:
        """The copy of a ledger, unless it was changed in memory after it was remembered
        (a command that claimed on it and then failed to save): that one is forgotten."""
        with self._guard:
            known = self._entries.get(ledger_id)
            if known is None:
                return None
            if known.ledger.version != known.version:
                del self._entries[ledger_id]
                return None
            self._entries.move_to_end(ledger_id)
            return known

    def remember(self, ledgers: Iterable[DayLedger], at: float) -> None:
        """These ledgers as they stand, current at the moment `at` (or later)."""
        with self._guard:
            for ledger in ledgers:
                self._entries[ledger.id] = Known(ledger, ledger.version, at)
                self._entries.move_to_end(ledger.id)
            while len(self._entries) > self._maxsize:
                self._entries.popitem(last=False)

    def confirm(self, versions: Mapping[UUID, int], at: float) -> None:
        """These catalog aggregates were at these versions at the moment `at` (or later)."""
        for aggregate_id, version in versions.items():
            self._confirmed[aggregate_id] = (version, at)

    def confirmed(self, versions: Mapping[UUID, int], since: float) -> bool:
        """Whether each of these catalog aggregates was known at its version since `since`."""
        for aggregate_id, version in versions.items():
            seen = self._confirmed.get(aggregate_id)
            if seen is None or seen[0] != version or seen[1] < since:
                return False
        return True
