"""The bookings as the event store holds them, read straight from its table with SQL.

Deliberately independent of the service's code and answers: it decodes the stored JSON
itself, so a check built on it can catch what the API would never report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from itertools import combinations
from typing import Any
from uuid import UUID

import psycopg

EVENTS_TABLE = "bookings_events"  # the eventsourcing table of the application named "bookings"
_BOOKING = "booking.domain:Booking."
_RELEASING = {"Cancelled", "Declined"}


def _decode(value: dict[str, Any]) -> Any:
    kind = value.get("_type_")
    if kind == "datetime_iso":
        return datetime.fromisoformat(value["_data_"])
    if kind == "uuid_hex":
        return UUID(value["_data_"])
    return value


@dataclass
class StoredBooking:
    id: UUID
    specialist_id: UUID
    service_id: UUID
    starts_at: datetime
    ends_at: datetime
    busy_from: datetime
    busy_until: datetime
    events: list[str] = field(default_factory=list)
    # A collective booking's other members, whose time it holds too.
    co_specialist_ids: list[UUID] = field(default_factory=list)

    @property
    def specialist_ids(self) -> set[UUID]:
        return {self.specialist_id, *self.co_specialist_ids}

    @property
    def holds_time(self) -> bool:
        """Still claims its slot: not cancelled or declined."""
        return not _RELEASING.intersection(self.events)


def stored_bookings(database_url: str) -> dict[UUID, StoredBooking]:
    """Every booking aggregate in the event store, replayed from its stored events."""
    bookings: dict[UUID, StoredBooking] = {}
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            f"SELECT originator_id, topic, state FROM {EVENTS_TABLE} "
            "WHERE topic LIKE %s ORDER BY originator_id, originator_version",
            (_BOOKING + "%",),
        ).fetchall()
    for originator_id, topic, state in rows:
        name = topic.removeprefix(_BOOKING)
        data = json.loads(bytes(state), object_hook=_decode)
        if name == "SlotRequested":
            bookings[originator_id] = StoredBooking(
                id=originator_id,
                specialist_id=data["specialist_id"],
                service_id=data["service_id"],
                starts_at=data["starts_at"],
                ends_at=data["ends_at"],
                busy_from=data["busy_from"],
                busy_until=data["busy_until"],
                co_specialist_ids=[UUID(m) for m in data.get("co_claims") or {}],
            )
        booking = bookings[originator_id]
        booking.events.append(name)
        if name == "Reassigned":
            booking.specialist_id = data["assignee"]
        if name == "Rescheduled":
            booking.starts_at, booking.ends_at = data["starts_at"], data["ends_at"]
            booking.busy_from, booking.busy_until = data["busy_from"], data["busy_until"]
    return bookings


def double_bookings(
    bookings: dict[UUID, StoredBooking],
) -> list[tuple[StoredBooking, StoredBooking]]:
    """Pairs of bookings that hold time of one specialist (a collective booking holds its
    members') and overlap, in their consultation times or in the time they keep busy
    (buffers included)."""
    holding = [b for b in bookings.values() if b.holds_time]
    return [
        (a, b)
        for a, b in combinations(holding, 2)
        if a.specialist_ids & b.specialist_ids
        and (
            (a.starts_at < b.ends_at and b.starts_at < a.ends_at)
            or (a.busy_from < b.busy_until and b.busy_from < a.busy_until)
        )
    ]


def stored_team_services(database_url: str) -> list[UUID]:
    """The services offered by a team, in the order they were defined."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            f"SELECT originator_id FROM {EVENTS_TABLE} WHERE topic = %s ORDER BY originator_id",
            ("booking.domain:Service.OfferedByTeam",),
        ).fetchall()
    return [row[0] for row in rows]
