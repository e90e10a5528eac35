"""Inbound sync: a connection's busy time read from its provider into the event store.

`sync` reads one connection: when the provider's sync token says nothing changed since
the last read, that is all it costs; otherwise it reads the busy time over the horizon,
records ExternalBusyChanged when it differs from what was held, and a conflict for
each booking an external event now overlaps. The push paths (Google channels, Graph
subscriptions) call it as notifications arrive; the loop (`python -m
calendar_sync.poller`) calls it for CalDAV every poll and for every connection at each
full reconcile (which ignores the token). A connection whose grant is gone is marked
failed; a throttled or unreachable provider is tried again at the next round (or
after its Retry-After).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from uuid import UUID

import psycopg

from calendar_sync.application import Connections
from calendar_sync.tables import live_bookings, record_sync, sync_token, zone_of
from calendar_sync.throttling import ConnectionLimits
from kairos.effects import TransientEffectError
from kairos.providers.calendar import CalendarAccessLost, CalendarProvider
from kairos.slots import Interval

log = logging.getLogger("calendar_sync.reconcile")

#: Past busy time matters only for conflicts with bookings still running.
LOOKBACK = timedelta(days=1)

#: Connections a round reads at once. A CalDAV server that never answers holds its read
#: for the client's whole timeout (two minutes): read one after another, it held every
#: other specialist's calendar back that long.
ROUND_THREADS = 4


class Reconciler:
    def __init__(
        self,
        database_url: str,
        connections: Connections,
        providers: Mapping[str, CalendarProvider],
        limits: ConnectionLimits,
        horizon: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        self._url = database_url
        self._connections = connections
        self._providers = providers
        self._limits = limits
        self._horizon = horizon
        self._clock = clock
        # connection id → monotonic time before which the provider asked us to wait
        self._not_before: dict[UUID, float] = {}

    def sync(self, connection_id: UUID, *, full: bool = False) -> bool:
        """Read one connection; True when its busy time changed."""
        connection = self._connections.connection(connection_id)
        if not connection.active or time.monotonic() < self._not_before.get(connection_id, 0):
            return False
        provider = self._providers[connection.provider]
        with psycopg.connect(self._url) as conn:
            time_zone = zone_of(conn, connection.specialist_id)
            last_token = sync_token(conn, connection_id)
        now = self._clock()
        start, end = now - LOOKBACK, now + self._horizon
        try:
            with self._limits.slot(connection_id):
                token = provider.sync_token(connection_id, last_token)
                if not full and token is not None and token == last_token:
                    with psycopg.connect(self._url) as conn:
                        record_sync(conn, connection_id, now, token)
                    return False
                busy = [
                    Interval(b.starts_at, b.ends_at)
                    for b in provider.busy(connection_id, start, end, time_zone)
                ]
        except CalendarAccessLost as lost:
            self._connections.fail(connection_id, str(lost))
            return False
        except TransientEffectError as busy_provider:
            wait = busy_provider.retry_after or timedelta(0)
            self._not_before[connection_id] = time.monotonic() + wait.total_seconds()
            log.warning("connection %s: provider busy: %s", connection_id, busy_provider)
            return False
        before = connection.version
        connection = self._connections.change_busy(connection_id, start, end, busy)
        with psycopg.connect(self._url) as conn:
            bookings = {
                b.booking_id: Interval(b.starts_at, b.ends_at)
                for b in live_bookings(conn, connection.specialist_id, start)
            }
            record_sync(conn, connection_id, now, token)
        self._connections.detect_conflicts(connection_id, bookings, busy)
        return connection.version != before

    def connected(self) -> list[UUID]:
        """The connections connected now (some of them may have failed since)."""
        latest: dict[UUID, bool] = {}
        for connection_id, connected in self._connections.connection_ids():
            latest[connection_id] = connected
        return [connection_id for connection_id, connected in latest.items() if connected]

    def round(self, *, full: bool) -> int:
        """Sync every active connection that is polled (CalDAV), or all of them when
        `full`, ROUND_THREADS at a time; how many changed."""
        due = [
            connection_id
            for connection_id in self.connected()
            if full or self._connections.connection(connection_id).provider == "caldav"
        ]
        with ThreadPoolExecutor(ROUND_THREADS, thread_name_prefix="reconcile") as pool:
            return sum(pool.map(lambda connection_id: self.sync(connection_id, full=full), due))
