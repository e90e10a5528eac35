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


CALENDAR_EVENTS: tuple[type[Payload], ...] = (
    CalendarConnected,
    CalendarDisconnected,
    ExternalBusyChanged,
)
