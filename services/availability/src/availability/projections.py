"""What each booking event changes in the availability read model.

A projection is a pure function from one integration event to row changes:
`Upsert` writes a whole row, `Patch` some columns of an existing one. Both carry
the event's notification id, and a row only takes a change newer than the last
one it took (`last_nid`): a redelivered or out-of-order-replayed event changes
nothing. The live consumer writes the changes with SQL (`tables.write`); a
rebuild folds them in memory first (`rebuild.Fold`): the same changes, the same
rule, two stores.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeAlias
from uuid import UUID

from availability.tables import (
    BOOKING_SOURCE,
    BUSY,
    CO_BUSY,
    OVERRIDES,
    SERVICES,
    SPECIALISTS,
    TEAM_SERVICES,
    TEAMS,
    Change,
    Patch,
    Upsert,
)
from kairos.events import booking as contract
from kairos.events.sealed import as_text
from kairos.slots import RULE_FIELDS
from kairos.timezones import parse_hhmm

# Bookings in these states give their time back; every other state keeps it busy,
# as the write side's day ledgers do.
RELEASED = frozenset({"cancelled", "declined"})


class Origin(Protocol):
    """Where an event sits: its notification id and its specialist (an Envelope has both)."""

    @property
    def notification_id(self) -> int: ...
    @property
    def specialist_id(self) -> UUID: ...


Projector: TypeAlias = Callable[[Origin, Any], list[Change]]


def _minutes(windows: list[contract.Window]) -> list[list[int]]:
    return [[parse_hhmm(w.start), parse_hhmm(w.end)] for w in windows]


def _specialist_registered(o: Origin, e: contract.SpecialistRegistered) -> list[Change]:
    # The name stays sealed here: this read model never shows it.
    row = {"name": as_text(e.name), "timezone": e.timezone, "weekly": {}}
    return [Upsert(SPECIALISTS, (e.specialist_id,), row, o.notification_id)]


def _schedule_set(o: Origin, e: contract.ScheduleSet) -> list[Change]:
    weekly: dict[str, list[list[int]]] = {}
    for w in e.weekly:
        weekly.setdefault(str(w.day), []).extend(_minutes([w]))
    values = {"timezone": e.timezone, "weekly": weekly}
    return [Patch(SPECIALISTS, (e.specialist_id,), values, o.notification_id)]


def _override_set(o: Origin, e: contract.OverrideSet) -> list[Change]:
    windows = [] if e.blocked else _minutes(e.windows)
    row = {"windows": windows, "cleared": False}
    return [Upsert(OVERRIDES, (e.specialist_id, e.date), row, o.notification_id)]


def _override_cleared(o: Origin, e: contract.OverrideCleared) -> list[Change]:
    # A tombstone, not a delete: an older OverrideSet replayed later must not revive it.
    row = {"windows": [], "cleared": True}
    return [Upsert(OVERRIDES, (e.specialist_id, e.date), row, o.notification_id)]


def _service_defined(o: Origin, e: contract.ServiceDefinition) -> list[Change]:
    rules = e.model_dump(include=set(RULE_FIELDS))
    row = {"specialist_id": e.specialist_id, "name": e.name, "rules": rules}
    return [Upsert(SERVICES, (e.service_id,), row, o.notification_id)]


def _team_service_defined(o: Origin, e: contract.TeamServiceDefined) -> list[Change]:
    row = {"team_id": e.team_id, "assignment": e.assignment}
    return [*_service_defined(o, e), Upsert(TEAM_SERVICES, (e.service_id,), row, o.notification_id)]


def _team_defined(o: Origin, e: contract.TeamDefinition) -> list[Change]:
    members = [str(m.specialist_id) for m in e.members]
    return [Upsert(TEAMS, (e.team_id,), {"members": members}, o.notification_id)]


def _slot_requested(o: Origin, e: contract.SlotRequested) -> list[Change]:
    row = {
        "specialist_id": o.specialist_id,
        "service_id": e.service_id,
        "starts_at": e.starts_at,
        "busy_from": e.busy_from,
        "busy_until": e.busy_until,
        "status": "requested",
        "active": True,
        "origin_id": None,
    }
    others = [s for s in e.specialist_ids if s != o.specialist_id]
    return [
        Upsert(BUSY, (BOOKING_SOURCE, e.booking_id), row, o.notification_id),
        *(Upsert(CO_BUSY, (e.booking_id, s), {}, o.notification_id) for s in others),
    ]


def _reassigned(o: Origin, e: contract.BookingReassigned) -> list[Change]:
    values = {"specialist_id": e.specialist_id}
    return [Patch(BUSY, (BOOKING_SOURCE, e.booking_id), values, o.notification_id)]


def _rescheduled(o: Origin, e: contract.BookingRescheduled) -> list[Change]:
    values = {"starts_at": e.starts_at, "busy_from": e.busy_from, "busy_until": e.busy_until}
    return [Patch(BUSY, (BOOKING_SOURCE, e.booking_id), values, o.notification_id)]


def _status(status: str) -> Projector:
    values = {"status": status, "active": status not in RELEASED}

    def project(o: Origin, e: Any) -> list[Change]:
        return [Patch(BUSY, (BOOKING_SOURCE, e.booking_id), values, o.notification_id)]

    project.__name__ = f"_booking_{status}"
    return project


#: Payload class → projector. Events not listed (none yet) change nothing here.
PROJECTORS: Mapping[type[contract.Payload], Projector] = {
    contract.SpecialistRegistered: _specialist_registered,
    contract.ScheduleSet: _schedule_set,
    contract.OverrideSet: _override_set,
    contract.OverrideCleared: _override_cleared,
    contract.ServiceDefinition: _service_defined,  # ServiceDefined and ServiceUpdated
    contract.TeamOwned: _team_service_defined,  # TeamServiceDefined and TeamServiceUpdated
    contract.TeamDefinition: _team_defined,  # TeamDefined and TeamUpdated
    contract.SlotRequested: _slot_requested,
    contract.BookingConfirmed: _status("confirmed"),
    contract.BookingPending: _status("pending"),
    contract.BookingDeclined: _status("declined"),
    contract.BookingCancelled: _status("cancelled"),
    contract.BookingRescheduled: _rescheduled,
    contract.BookingReassigned: _reassigned,
    contract.BookingStarted: _status("in_progress"),
    contract.BookingCompleted: _status("completed"),
    contract.NoShowMarked: _status("no_show"),
}

_RESOLVED: dict[type, Projector | None] = {}


def project(origin: Origin, payload: contract.Payload) -> list[Change]:
    """The row changes `payload` makes; looked up along its class hierarchy."""
    kind = type(payload)
    if kind not in _RESOLVED:
        _RESOLVED[kind] = next((PROJECTORS[c] for c in kind.__mro__ if c in PROJECTORS), None)
    projector = _RESOLVED[kind]
    return projector(origin, payload) if projector is not None else []


def others_touched(origin: Origin, payload: contract.Payload) -> set[UUID]:
    """Specialists besides the event's own whose availability it changes: the other
    members of a collective booking, the other side of a reassignment."""
    touched: set[UUID] = set()
    if isinstance(payload, contract.SlotRequested):
        touched.update(payload.specialist_ids)
    elif isinstance(payload, contract.BookingReassigned):
        touched.update((payload.specialist_id, payload.previous_specialist_id))
    if isinstance(payload, contract.BookingEvent) and payload.booking is not None:
        touched.update(payload.booking.specialist_ids)
    touched.discard(origin.specialist_id)
    return touched
