"""Translates calendar-sync's stored domain events into `calendar.events.v1`.

The one place that knows both shapes (ARCHITECTURE.md rule 4). The specialist index
(SpecialistCalendars) is internal and maps to nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import Application

from calendar_sync.application import Connections
from calendar_sync.domain import Connection, intervals
from kairos.events import CALENDAR_REGISTRY
from kairos.events import calendar as contract
from kairos.events.mapping import IntegrationMapping
from kairos.events.payload import Payload
from kairos.eventstore import open_application
from kairos.messaging.notification_log import NotificationLog

PRODUCER = "calendar-sync"
EVENT_ID_NAMESPACE = uuid5(NAMESPACE_URL, "https://kairos.invalid/events/calendar-sync")


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


class IntegrationMapper(IntegrationMapping):
    """Callable: (domain event, notification id) → Envelope, or None for internal events."""

    producer = PRODUCER
    namespace = EVENT_ID_NAMESPACE
    registry = CALENDAR_REGISTRY

    def __init__(self, app: Application[UUID]) -> None:
        super().__init__()
        self._app = app
        self._specialists: dict[UUID, UUID] = {}
        self._providers: dict[UUID, Any] = {}

        def kind(name: str) -> type[Any]:
            found: type[Any] = getattr(Connection, name)
            return found

        self.payloads = {
            kind("Connected"): self._connected,
            kind("Reconnected"): self._connected,
            kind("Disconnected"): lambda e: contract.CalendarDisconnected(
                connection_id=e.originator_id, specialist_id=self.specialist_of(e)
            ),
            kind("SyncFailed"): lambda e: contract.CalendarSyncFailed(
                connection_id=e.originator_id, specialist_id=self.specialist_of(e), reason=e.reason
            ),
            kind("BusyChanged"): self._busy_changed,
            kind("ConflictDetected"): lambda e: contract.CalendarConflictDetected(
                connection_id=e.originator_id,
                specialist_id=self.specialist_of(e),
                booking_id=e.booking_id,
                booking_starts_at=_at(e.booking_starts_at),
                booking_ends_at=_at(e.booking_ends_at),
                busy=contract.BusyInterval(starts_at=_at(e.busy_from), ends_at=_at(e.busy_until)),
            ),
        }

    def specialist_of(self, event: Any) -> UUID:
        owner = getattr(event, "specialist_id", None) or self._specialists.get(event.originator_id)
        if owner is None:
            owner = self._app.repository.get(event.originator_id, version=1).specialist_id
        self._specialists[event.originator_id] = owner
        return UUID(str(owner))

    def _connected(self, e: Any) -> Payload:
        provider = getattr(e, "provider", None) or self._provider_of(e.originator_id)
        return contract.CalendarConnected(
            connection_id=e.originator_id,
            specialist_id=self.specialist_of(e),
            provider=provider,
            calendar_name=e.calendar_name,
        )

    def _provider_of(self, connection_id: UUID) -> Any:
        if connection_id not in self._providers:
            first: Any = self._app.repository.get(connection_id, version=1)
            self._providers[connection_id] = first.provider
        return self._providers[connection_id]

    def _busy_changed(self, e: Any) -> Payload:
        start, end = _at(e.range_start), _at(e.range_end)
        return contract.ExternalBusyChanged(
            connection_id=e.originator_id,
            specialist_id=self.specialist_of(e),
            range_start=start,
            range_end=end,
            busy=[
                contract.BusyInterval(starts_at=b.start, ends_at=b.end)
                for b in intervals(e.busy)
                if b.start < end and b.end > start
            ],
        )


@contextmanager
def calendar_log(database_url: str) -> Iterator[NotificationLog]:
    """calendar-sync's event store as integration events: what read models rebuild from."""
    app = open_application(lambda env: Connections(env=env), database_url)
    try:
        yield NotificationLog(app, IntegrationMapper(app))
    finally:
        app.close()
