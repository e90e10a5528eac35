"""The calendar-sync Application: connections in their own event store.

Its notification log is the outbox of `calendar.events.v1` (calendar_sync.relay).
Methods that change a connection take the state they need and record at most one
event; reading a provider is the caller's (the reconcile loop and the effects).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic

from calendar_sync.domain import Connection, NotConnected, Provider, SpecialistCalendars
from kairos.slots import Interval

_SAVE_ATTEMPTS = 5


class Connections(Application[UUID]):
    """Specialists' external calendars: connect, disconnect, failures, busy time, conflicts."""

    name = "calendar_sync"

    def connect(
        self, specialist_id: UUID, provider: Provider, account: str, calendar_name: str | None
    ) -> Connection:
        """Connect (or reconnect) a calendar; its credentials are stored by the caller."""
        connection_id = Connection.create_id(specialist_id, provider, account)
        connection: Connection | None = self._find(connection_id, Connection)
        if connection is None:
            connection = Connection.connect(specialist_id, provider, account, calendar_name)
        else:
            connection.reconnect(calendar_name)
        index = self._find(SpecialistCalendars.create_id(specialist_id), SpecialistCalendars)
        index = index or SpecialistCalendars.of(specialist_id)
        index.add(connection.id)
        self.save(connection, index)
        return connection

    def connection(self, connection_id: UUID) -> Connection:
        connection: Connection | None = self._find(connection_id, Connection)
        if connection is None:
            raise NotConnected("no such calendar connection", {"id": str(connection_id)})
        return connection

    def connections_of(self, specialist_id: UUID) -> list[Connection]:
        """Every connection the specialist ever made, disconnected ones included."""
        index = self._find(SpecialistCalendars.create_id(specialist_id), SpecialistCalendars)
        return [] if index is None else [self.connection(i) for i in index.connection_ids]

    def disconnect(self, connection_id: UUID) -> Connection:
        connection = self.connection(connection_id)
        if connection.disconnect():
            self.save(connection)
        return connection

    def fail(self, connection_id: UUID, reason: str) -> None:
        self._changing(connection_id, lambda connection: connection.fail(reason))

    def change_busy(
        self, connection_id: UUID, range_start: datetime, range_end: datetime, busy: list[Interval]
    ) -> Connection:
        return self._changing(
            connection_id, lambda connection: connection.change_busy(range_start, range_end, busy)
        )

    def detect_conflicts(
        self, connection_id: UUID, bookings: dict[UUID, Interval], busy: list[Interval]
    ) -> Connection:
        """Record each (booking, external busy interval) overlap not reported before."""

        def detect(connection: Connection) -> bool:
            found = [
                connection.detect_conflict(booking_id, booked, interval)
                for booking_id, booked in bookings.items()
                for interval in busy
            ]
            return any(found)

        return self._changing(connection_id, detect)

    def _changing(self, connection_id: UUID, change: Callable[[Connection], bool]) -> Connection:
        """Apply a change and save it; a push notification and the poller may read one
        connection at once, so a save that lost the race runs again on the new state
        (where the same reading usually records nothing)."""
        for attempt in range(_SAVE_ATTEMPTS):
            connection = self.connection(connection_id)
            if not change(connection):
                return connection
            try:
                self.save(connection)
                return connection
            except IntegrityError:
                if attempt == _SAVE_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def connection_ids(self) -> Iterator[tuple[UUID, bool]]:
        """(connection id, connected) for every Connected/Reconnected/Disconnected in log
        order: the reconcile loop's list of what to poll, read without loading each."""
        topics = [
            get_topic(getattr(Connection, name))
            for name in ("Connected", "Reconnected", "Disconnected")
        ]
        disconnected = topics[-1]
        start = 1
        while True:
            page = self.recorder.select_notifications(start, 500, topics=topics)
            for notification in page:
                yield UUID(str(notification.originator_id)), notification.topic != disconnected
            if len(page) < 500:
                return
            start = page[-1].id + 1

    def _find(self, aggregate_id: UUID, kind: type[Any]) -> Any:
        try:
            found: Any = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, kind) else None
