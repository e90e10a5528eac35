"""The query process's in-process cache of specialists' availability.

Why in-process rather than Redis: a slot query then costs no network round trip
at all (the target is 2 ms), and the cache never serves a stale answer for
longer than a NOTIFY takes to arrive. The projector NOTIFYs each applied event
in its own transaction, so PostgreSQL delivers the notice only after the change
is visible, in commit order. The listener drops the specialist's entry and
advances its record of how far the projection has got per partition, which is
what `min_position` waits for. A lost listener connection means notices may
have been missed: the cache is emptied and the positions re-read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from availability.readmodel import (
    SpecialistAvailability,
    TeamService,
    load,
    service_owner,
    team_service,
)
from availability.tables import CHANGED_CHANNEL, RESET
from kairos.messaging import TOPIC_PARTITIONS, specialist_partition
from kairos.messaging.positions import TABLE as POSITIONS_TABLE

log = logging.getLogger("availability.cache")

_RECONNECT_DELAY = 1.0


class AvailabilityCache:
    """Specialists' availability by id, dropped when the projection changes them."""

    def __init__(
        self,
        pool: ConnectionPool,
        database_url: str,
        consumer: str,
        producer: str,
        clock: Callable[[], datetime],
        partitions: int = TOPIC_PARTITIONS,
        max_entries: int = 10_000,
    ) -> None:
        self._pool = pool
        self._database_url = database_url
        self._consumer = consumer
        self._producer = producer
        self._clock = clock
        self._partitions = partitions
        # Least recently used first; an entry is a few kB per hundred bookings.
        self._entries: OrderedDict[UUID, SpecialistAvailability] = OrderedDict()
        self._max_entries = max_entries
        self._owners: dict[UUID, UUID] = {}  # service id → specialist id; never changes
        # Bumped on every change of a specialist: a load that raced a change is not kept.
        self._generation: dict[UUID, int] = {}
        self._epoch = 0
        self._positions: dict[int, int] = {}
        self._moved = asyncio.Condition()
        self.listening = False

    def notices_heard(self, specialist_id: UUID) -> int:
        """How many change notices of the specialist this process has heard. Notices
        arrive in commit order, so once one sent after a change is heard, so is the
        change: a barrier for whoever must know the next answer includes it."""
        return self._generation.get(specialist_id, 0)

    # --- queries --------------------------------------------------------------

    async def owner_of(self, service_id: UUID) -> UUID | None:
        owner = self._owners.get(service_id)
        if owner is None:
            owner = await asyncio.to_thread(self._query, service_owner, service_id)
            if owner is not None:
                self._owners[service_id] = owner
        return owner

    async def team_service(self, service_id: UUID) -> TeamService | None:
        """A team's service and members, read afresh: a team's changes are not followed
        here (its members' availability is, in their entries)."""
        found: TeamService | None = await asyncio.to_thread(self._query, team_service, service_id)
        return found

    async def availability(self, specialist_id: UUID) -> SpecialistAvailability | None:
        entry = self._entries.get(specialist_id)
        if entry is not None:
            self._entries.move_to_end(specialist_id)
            return entry
        stamp = (self._epoch, self._generation.get(specialist_id, 0))
        entry = await asyncio.to_thread(self._query, load, specialist_id, self._clock())
        if entry is not None and stamp == (self._epoch, self._generation.get(specialist_id, 0)):
            self._entries[specialist_id] = entry
            if len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return entry

    async def wait_for(
        self, position: int, timeout: float, specialist_id: UUID | None = None
    ) -> bool:
        """Wait until the projection has applied notification id `position` (on the
        specialist's partition, or on any) or `timeout` passes; True if it has."""
        if specialist_id is not None:
            partition = specialist_partition(specialist_id, self._partitions)

            def reached() -> bool:
                return self._positions.get(partition, 0) >= position
        else:

            def reached() -> bool:
                return max(self._positions.values(), default=0) >= position

        if reached():
            return True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout), self._moved:
                await self._moved.wait_for(reached)
        return reached()

    def _query(self, function: Callable[..., Any], *args: Any) -> Any:
        with self._pool.connection() as conn:
            return function(conn, *args)

    # --- the listener ---------------------------------------------------------

    async def listen(self) -> None:
        """Follow the projection's notices until cancelled, reconnecting as needed."""
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._database_url, autocommit=True
                ) as conn:
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANGED_CHANNEL)))
                    # Everything before the LISTEN may have been missed: start afresh.
                    await self._reset()
                    self.listening = True
                    async for notice in conn.notifies():
                        await self._on_notice(notice.payload)
            except psycopg.OperationalError as exc:
                log.warning("availability cache: listener lost (%s); reconnecting", exc)
            finally:
                self.listening = False
            await asyncio.sleep(_RECONNECT_DELAY)

    async def _on_notice(self, payload: str) -> None:
        if payload == RESET:
            await self._reset()
            return
        specialist, _, nid = payload.partition(" ")
        specialist_id = UUID(specialist)
        self._entries.pop(specialist_id, None)
        self._generation[specialist_id] = self._generation.get(specialist_id, 0) + 1
        partition = specialist_partition(specialist, self._partitions)
        if int(nid) > self._positions.get(partition, 0):
            self._positions[partition] = int(nid)
            async with self._moved:
                self._moved.notify_all()

    async def _reset(self) -> None:
        self._epoch += 1
        self._entries.clear()
        # Read on the pool, not on the listening connection: a query there while its
        # notices are being iterated waits for the iteration, for ever (psycopg), and the
        # process heard nothing more after a rebuild's reset.
        self._positions = await asyncio.to_thread(self._query, self._read_positions)
        async with self._moved:
            self._moved.notify_all()

    def _read_positions(self, conn: psycopg.Connection[Any]) -> dict[int, int]:
        rows = conn.execute(
            f"SELECT partition, notification_id FROM {POSITIONS_TABLE}"
            " WHERE consumer = %s AND producer = %s",
            (self._consumer, self._producer),
        ).fetchall()
        return {int(p): int(n) for p, n in rows}
