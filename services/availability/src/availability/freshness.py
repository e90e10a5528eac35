"""How stale the read model is, as the query processes see it.

The projector records, every second, the instant its read model is current as of
(every booking event committed before it is applied; kairos.messaging.heartbeat).
A query process re-reads that row every second; staleness is now minus that
instant, so it keeps growing when the projector, the relay or the broker stops,
even though nothing is written any more. `GET /v1/slots` reports it in the
`Kairos-Staleness` header, and `/readyz` fails past `max_staleness_seconds`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import psycopg
from psycopg_pool import ConnectionPool

from availability.tables import ProjectionStatus, projection_status
from kairos.messaging.heartbeat import check_staleness

log = logging.getLogger("availability.freshness")

STALENESS_HEADER = "Kairos-Staleness"
_REREAD_INTERVAL = 1.0


class ProjectionFreshness:
    """Follows the projector's status row; see the module docstring."""

    def __init__(
        self, pool: ConnectionPool, consumer: str, wall: Callable[[], float] = time.time
    ) -> None:
        self._pool = pool
        self._consumer = consumer
        self._wall = wall
        self.status: ProjectionStatus | None = None

    def staleness(self) -> float | None:
        """Seconds the read model is behind the booking log; None when never known."""
        as_of = self.status.current_as_of if self.status is not None else None
        return None if as_of is None else max(0.0, self._wall() - as_of.timestamp())

    def header(self) -> str:
        staleness = self.staleness()
        return "unknown" if staleness is None else f"{staleness:.1f}"

    def check(self, bound: float) -> None:
        """The readiness check: reads the status afresh, so it answers for this moment."""
        self.reread()
        if self.status is None or self.status.caught_up_at is None:
            raise RuntimeError("the projector has not caught up yet")
        check_staleness(self.staleness(), bound)

    def reread(self) -> None:
        with self._pool.connection(timeout=2) as conn:
            self.status = projection_status(conn, self._consumer)

    async def follow(self) -> None:
        """Re-read the status every second until cancelled; a failed read keeps the last
        one, whose staleness goes on growing."""
        while True:
            try:
                await asyncio.to_thread(self.reread)
            except psycopg.OperationalError as exc:
                log.warning("could not read the projection's status: %s", exc)
            await asyncio.sleep(_REREAD_INTERVAL)
