"""Version 1 payloads of the calendar-sync service's integration events (`calendar.events.v1`).

calendar-sync connects a specialist's external calendars (Google, Microsoft, CalDAV) and
publishes the busy time it reads from them, which availability subtracts from the slots
(unpadded: ARCHITECTURE.md, slot rules). Envelope: producer "calendar-sync", aggregate id
= the connection id, key = the specialist id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from kairos.events.payload import Payload
from kairos.text import Storable

CalendarProvider = Literal["google", "microsoft", "caldav"]


class BusyInterval(Payload):
    starts_at: datetime
    ends_at: datetime


class CalendarConnected(Payload):
    """A specialist connected an external calendar; its busy time follows."""

    connection_id: UUID
    specialist_id: UUID
    provider: CalendarProvider
    calendar_name: Storable | None = Field(
        default=None, description="The calendar's own display name, when the provider has one"
    )


class CalendarDisconnected(Payload):
    """The connection was removed (or its access revoked): its busy time stops blocking."""

    connection_id: UUID
    specialist_id: UUID


class ExternalBusyChanged(Payload):
    """The whole busy time of one connection within [range_start, range_end): a consumer
    replaces what it held for that connection in that range (so a change, a deletion and
    a full resync are the same event)."""

    connection_id: UUID
    specialist_id: UUID
    range_start: datetime
    range_end: datetime
    busy: list[BusyInterval]


class CalendarSyncFailed(Payload):
    """The provider refused the connection for good (revoked or expired grant, wrong
    password): it is shown as failed with the reason until the specialist reconnects.
    Its busy time stays as last read (it may still be true) until disconnected."""

    connection_id: UUID
    specialist_id: UUID
    reason: Storable = Field(description="What the provider said, without any credential")


class CalendarConflictDetected(Payload):
    """An external event landed on an existing booking: the specialist is told (once per
    booking and busy interval)."""

    connection_id: UUID
    specialist_id: UUID
    booking_id: UUID
    booking_starts_at: datetime
    booking_ends_at: datetime
    busy: BusyInterval = Field(description="The external busy time that overlaps the booking")


CALENDAR_EVENTS: tuple[type[Payload], ...] = (
    CalendarConnected,
    CalendarDisconnected,
    ExternalBusyChanged,
    CalendarSyncFailed,
    CalendarConflictDetected,
)
