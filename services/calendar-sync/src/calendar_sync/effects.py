"""The calendar writes the consumer records (calendar_sync.consumers), performed after commit.

Each effect reads the booking's current row and the connection when it fires (rule 6):
a put of a booking that was cancelled meanwhile, or a write to a connection that was
disconnected, is skipped by its re-check. The event's identity at the provider is
`event_uid(booking, connection)`, so a repeated put updates the one event, and the
effect id goes to the provider as its idempotency key (Graph's transactionId).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

import psycopg

from calendar_sync.application import Connections
from calendar_sync.consumers import DELETE, PUT, SHOWN, CalendarWrite
from calendar_sync.ical_busy import OWN_UID_PREFIX
from calendar_sync.tables import BookedEvent, booking
from calendar_sync.throttling import ConnectionLimits
from kairos.effects import Effect, EffectHandler
from kairos.privacy import ERASED, PersonalData
from kairos.providers.calendar import Attendee, CalendarAccessLost, CalendarEvent, CalendarProvider


def event_uid(booking_id: UUID, connection_id: UUID) -> str:
    """Base32hex-safe (Google event ids allow 0-9 and a-v only), 70 characters."""
    return f"{OWN_UID_PREFIX}{booking_id.hex}{connection_id.hex}"


class CalendarWrites:
    """Performs PUT and DELETE effects through each connection's provider."""

    def __init__(
        self,
        database_url: str,
        connections: Connections,
        providers: Mapping[str, CalendarProvider],
        personal: PersonalData,
        limits: ConnectionLimits,
        join_link: Callable[[UUID], str],
    ) -> None:
        self._url = database_url
        self._connections = connections
        self._providers = providers
        self._personal = personal
        self._limits = limits
        self._join_link = join_link

    def handlers(self) -> list[EffectHandler[Any]]:
        return [
            EffectHandler(PUT, self.put, recheck=self.still_shown),
            EffectHandler(DELETE, self.delete, recheck=self.still_connected),
        ]

    def _booking(self, booking_id: UUID) -> BookedEvent | None:
        with psycopg.connect(self._url) as conn:
            return booking(conn, booking_id)

    def _calendar_event(self, b: BookedEvent, connection_id: UUID) -> CalendarEvent:
        revealer = self._personal.revealer()
        name = revealer.reveal(b.client_name) if b.client_name is not None else None
        email = revealer.reveal(b.client_email) if b.client_email is not None else None
        link = self._join_link(b.booking_id)
        return CalendarEvent(
            uid=event_uid(b.booking_id, connection_id),
            title=f"{b.service_name}" + (f" with {name}" if name else ""),
            starts_at=b.starts_at,
            ends_at=b.ends_at,
            time_zone=b.time_zone,
            description=f"Kairos booking. Join: {link}",
            location=link,
            # An erased client stays a booking, without a name or an address to invite.
            attendees=(Attendee(email, name),) if email and email != ERASED else (),
        )

    def _perform(
        self, effect: Effect[CalendarWrite], call: Callable[[CalendarProvider], Any]
    ) -> None:
        connection = self._connections.connection(effect.data.connection_id)
        provider = self._providers[connection.provider]
        try:
            with self._limits.slot(connection.id):
                call(provider)
        except CalendarAccessLost as lost:
            # Not retried and not parked: the connection is shown failed with the reason.
            self._connections.fail(connection.id, str(lost))

    def put(self, effect: Effect[CalendarWrite]) -> None:
        b = self._booking(effect.data.booking_id)
        if b is None:
            return
        event = self._calendar_event(b, effect.data.connection_id)
        key = effect.idempotency_key
        self._perform(
            effect, lambda p: p.put_event(effect.data.connection_id, event, idempotency_key=key)
        )

    def delete(self, effect: Effect[CalendarWrite]) -> None:
        uid = event_uid(effect.data.booking_id, effect.data.connection_id)
        key = effect.idempotency_key
        self._perform(
            effect, lambda p: p.delete_event(effect.data.connection_id, uid, idempotency_key=key)
        )

    def still_connected(self, conn: psycopg.Connection[Any], effect: Effect[CalendarWrite]) -> bool:
        return self._connections.connection(effect.data.connection_id).active

    def still_shown(self, conn: psycopg.Connection[Any], effect: Effect[CalendarWrite]) -> bool:
        """Shown, connected, and still one of the connection's specialist's (a booking
        reassigned meanwhile goes to the new member's calendars, not back to these)."""
        b = booking(conn, effect.data.booking_id)
        if b is None or b.status not in SHOWN:
            return False
        connection = self._connections.connection(effect.data.connection_id)
        return connection.active and connection.specialist_id in b.members
