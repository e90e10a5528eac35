"""The calendar-sync write model: a specialist's connections to external calendars.

Aggregates are pure: no I/O, no clock (`at` is passed in). Event attributes are plain
JSON values (instants as ISO strings) so stored events stay readable by any version.
A connection never holds credentials: those are sealed in calendar_sync.credentials.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from kairos.errors import KairosError
from kairos.slots import Interval
from kairos.timezones import iso_utc

Provider = Literal["google", "microsoft", "caldav"]
Status = Literal["active", "failed", "disconnected"]
#: A busy interval as events store it: [start, end) as ISO instants.
BusyPair = list[str]

_NAMESPACE = uuid5(NAMESPACE_URL, "https://kairos.invalid/calendar-sync")


def pairs(intervals: list[Interval]) -> list[BusyPair]:
    return [[iso_utc(i.start), iso_utc(i.end)] for i in intervals]


def intervals(busy: list[BusyPair]) -> list[Interval]:
    return [Interval(datetime.fromisoformat(s), datetime.fromisoformat(e)) for s, e in busy]


class NotConnected(KairosError):
    code = "not_found"
    status = 404


class Connection(Aggregate):
    """One external calendar of one specialist; its busy time blocks their slots."""

    @staticmethod
    def create_id(specialist_id: UUID, provider: str, account: str) -> UUID:
        """The same calendar connected twice is one connection (reconnecting revives it).
        eventsourcing calls it with the constructor's arguments of these names."""
        return uuid5(_NAMESPACE, f"{specialist_id}/{provider}/{account}")

    @event("Connected")
    def __init__(
        self, specialist_id: UUID, provider: Provider, account: str, calendar_name: str | None
    ) -> None:
        self.specialist_id = specialist_id
        self.provider: Provider = provider
        self.account = account  # a URL or a user name, never a secret
        self.calendar_name = calendar_name
        self.status: Status = "active"
        self.error: str | None = None
        self.busy: list[BusyPair] = []
        self.conflicts: list[str] = []  # "<booking id>/<busy start>/<busy end>" reported

    @classmethod
    def connect(
        cls, specialist_id: UUID, provider: Provider, account: str, calendar_name: str | None
    ) -> Connection:
        return cls(
            specialist_id=specialist_id,
            provider=provider,
            account=account,
            calendar_name=calendar_name,
        )

    @event("Reconnected")
    def reconnect(self, calendar_name: str | None) -> None:
        self.status = "active"
        self.error = None
        self.calendar_name = calendar_name

    @property
    def active(self) -> bool:
        return self.status == "active"

    def disconnect(self) -> bool:
        """Stop syncing; its busy time stops blocking. False when it already was."""
        if self.status == "disconnected":
            return False
        self._disconnected()
        return True

    @event("Disconnected")
    def _disconnected(self) -> None:
        self.status = "disconnected"
        self.busy = []

    def fail(self, reason: str) -> bool:
        """The provider refused the connection for good; False if already failed so."""
        if self.status != "active":
            return False
        self._failed(reason)
        return True

    @event("SyncFailed")
    def _failed(self, reason: str) -> None:
        self.status = "failed"
        self.error = reason

    def change_busy(self, range_start: datetime, range_end: datetime, busy: list[Interval]) -> bool:
        """The busy time read in [range_start, range_end) replaces what was held there;
        False (nothing recorded) when it is the same."""
        kept = [b for b in intervals(self.busy) if b.end <= range_start or b.start >= range_end]
        new = sorted(kept + [b for b in busy if b.start < range_end and b.end > range_start])
        if pairs(new) == self.busy or not self.active:
            return False
        self._busy_changed(iso_utc(range_start), iso_utc(range_end), pairs(new))
        return True

    @event("BusyChanged")
    def _busy_changed(self, range_start: str, range_end: str, busy: list[BusyPair]) -> None:
        self.busy = busy

    def detect_conflict(self, booking_id: UUID, booking: Interval, busy: Interval) -> bool:
        """Report an external busy interval that overlaps a booking, once."""
        key = f"{booking_id}/{iso_utc(busy.start)}/{iso_utc(busy.end)}"
        if key in self.conflicts or not booking.overlaps(busy):
            return False
        self._conflict_detected(
            booking_id,
            iso_utc(booking.start),
            iso_utc(booking.end),
            iso_utc(busy.start),
            iso_utc(busy.end),
        )
        return True

    @event("ConflictDetected")
    def _conflict_detected(
        self,
        booking_id: UUID,
        booking_starts_at: str,
        booking_ends_at: str,
        busy_from: str,
        busy_until: str,
    ) -> None:
        self.conflicts.append(f"{booking_id}/{busy_from}/{busy_until}")


class SpecialistCalendars(Aggregate):
    """The index of one specialist's connections (deterministic id), saved atomically
    with a new connection: what the API lists and the consumer writes bookings to."""

    @staticmethod
    def create_id(specialist_id: UUID) -> UUID:
        return uuid5(_NAMESPACE, f"specialist/{specialist_id}")

    @classmethod
    def of(cls, specialist_id: UUID) -> SpecialistCalendars:
        return cls(specialist_id=specialist_id)

    @event("Started")
    def __init__(self, specialist_id: UUID) -> None:
        self.specialist_id = specialist_id
        self.connection_ids: list[UUID] = []

    def add(self, connection_id: UUID) -> None:
        if connection_id not in self.connection_ids:
            self._added(connection_id)

    @event("Added")
    def _added(self, connection_id: UUID) -> None:
        self.connection_ids.append(connection_id)
