"""Translates stored domain events into the public integration events of booking.events.v1.

Domain events never leave the service as they are (ARCHITECTURE.md rule 4):
this module is the one place that knows both shapes. Ledger events are
internal and map to nothing.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import Application

from booking.application import Bookings
from booking.domain import Booking, Erasure, Service, Specialist, Team, event_class
from booking.snapshots import Snapshots
from kairos.events import REGISTRY
from kairos.events import booking as contract
from kairos.events.booking import NO_SPECIALIST
from kairos.events.mapping import IntegrationMapping
from kairos.eventstore import open_application
from kairos.messaging.notification_log import NotificationLog
from kairos.timezones import format_hhmm

PRODUCER = "booking"
EVENT_ID_NAMESPACE = uuid5(NAMESPACE_URL, "https://kairos.invalid/events/booking")


def _windows(pairs: list[list[int]]) -> list[contract.Window]:
    return [contract.Window(start=format_hhmm(s), end=format_hhmm(e)) for s, e in pairs]


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


class IntegrationMapper(IntegrationMapping):
    """Callable: (domain event, notification id) → Envelope, or None for internal events."""

    producer = PRODUCER
    namespace = EVENT_ID_NAMESPACE
    registry = REGISTRY

    def __init__(
        self, app: Application[UUID], cache_size: int = 100_000, snapshots: bool = True
    ) -> None:
        super().__init__()
        self._app = app
        # aggregate id → specialist id: most booking events don't repeat it.
        self._owners: OrderedDict[UUID, UUID] = OrderedDict()
        self._cache_size = cache_size
        # About half the mapping's cost: a rebuild of a read model that reads no snapshot
        # (availability) goes without; the relay and `republish` always compute them.
        self._snapshots = Snapshots(app, cache_size) if snapshots else None
        self.payloads = {
            event_class(Specialist, "Registered"): self._registered,
            event_class(Specialist, "ScheduleSet"): self._schedule_set,
            event_class(Specialist, "OverrideSet"): lambda e: contract.OverrideSet(
                specialist_id=e.originator_id,
                date=e.day,
                blocked=not e.windows,
                windows=_windows(e.windows),
            ),
            event_class(Specialist, "OverrideCleared"): lambda e: contract.OverrideCleared(
                specialist_id=e.originator_id, date=e.day
            ),
            event_class(Team, "Formed"): lambda e: contract.TeamDefined(
                team_id=e.originator_id, name=e.name, members=e.members
            ),
            event_class(Team, "Changed"): lambda e: contract.TeamUpdated(
                team_id=e.originator_id, name=e.name, members=e.members
            ),
            event_class(Service, "Defined"): lambda e: self._service_at(
                e, contract.ServiceDefined, contract.TeamServiceDefined
            ),
            event_class(Service, "OfferedByTeam"): lambda e: self._service_at(
                e, contract.ServiceDefined, contract.TeamServiceDefined
            ),
            event_class(Service, "Updated"): lambda e: self._service_at(
                e, contract.ServiceUpdated, contract.TeamServiceUpdated
            ),
            event_class(Booking, "SlotRequested"): self._slot_requested,
            event_class(Booking, "Confirmed"): lambda e: contract.BookingConfirmed(
                booking_id=e.originator_id
            ),
            event_class(Booking, "Pending"): lambda e: contract.BookingPending(
                booking_id=e.originator_id
            ),
            event_class(Booking, "Declined"): lambda e: contract.BookingDeclined(
                booking_id=e.originator_id, reason=e.reason
            ),
            event_class(Booking, "Cancelled"): lambda e: contract.BookingCancelled(
                booking_id=e.originator_id,
                reason=e.reason,
                refund_eligible=e.refund_eligible,
                cancelled_by=e.by,
            ),
            event_class(Booking, "Rescheduled"): lambda e: contract.BookingRescheduled(
                booking_id=e.originator_id,
                starts_at=e.starts_at,
                ends_at=e.ends_at,
                busy_from=e.busy_from,
                busy_until=e.busy_until,
                previous_starts_at=e.previous_starts_at,
                previous_ends_at=e.previous_ends_at,
            ),
            event_class(Booking, "Reassigned"): lambda e: contract.BookingReassigned(
                booking_id=e.originator_id,
                specialist_id=e.assignee,
                previous_specialist_id=e.previous_assignee,
            ),
            event_class(Booking, "Started"): lambda e: contract.BookingStarted(
                booking_id=e.originator_id
            ),
            event_class(Booking, "Completed"): lambda e: contract.BookingCompleted(
                booking_id=e.originator_id
            ),
            event_class(Booking, "NoShowMarked"): lambda e: contract.NoShowMarked(
                booking_id=e.originator_id, party=e.party
            ),
            event_class(Erasure, "Requested"): lambda e: contract.PersonErased(
                erasure_id=e.originator_id, subjects=e.subjects
            ),
        }

    def payload(self, event: Any) -> contract.Payload | None:
        """The integration event's payload for a domain event; None for internal ones.
        A booking's events carry the booking as it stands after them."""
        if isinstance(event, Service.Defined) and event.specialist_id is None:
            return None  # a team's service: published once it has its team, by the next event
        payload = super().payload(event)
        if payload is None:
            return None
        if self._snapshots is None:
            return payload
        self._snapshots.saw(event)
        if isinstance(payload, contract.BookingEvent):
            payload = payload.model_copy(update={"booking": self._snapshots.of(event)})
        return payload

    def specialist_of(self, event: Any) -> UUID:
        """The specialist an event belongs to: the partitioning key of its topic."""
        if isinstance(event, Specialist.Event):
            return _uuid(event.originator_id)
        if isinstance(event, Erasure.Event | Team.Event):
            return NO_SPECIALIST
        owner = getattr(event, "specialist_id", None)
        if owner is None:
            owner = self._owners.get(event.originator_id)
        if owner is None:
            # A team's service has no specialist.
            first: Any = self._app.repository.get(event.originator_id, version=1)
            owner = first.specialist_id or NO_SPECIALIST
        self._owners[event.originator_id] = owner
        self._owners.move_to_end(event.originator_id)
        if len(self._owners) > self._cache_size:
            self._owners.popitem(last=False)
        return _uuid(owner)

    @staticmethod
    def _registered(e: Any) -> contract.Payload:
        return contract.SpecialistRegistered(
            specialist_id=e.originator_id,
            name=e.name,
            email=e.email,
            timezone=e.timezone,
            specialty=e.specialty,
            bio=e.bio,
        )

    @staticmethod
    def _schedule_set(e: Any) -> contract.Payload:
        weekly = [
            contract.WeeklyWindow(day=int(day), start=w.start, end=w.end)
            for day, pairs in sorted(e.weekly.items(), key=lambda kv: int(kv[0]))
            for w in _windows(pairs)
        ]
        return contract.ScheduleSet(
            specialist_id=e.originator_id, timezone=e.timezone, weekly=weekly
        )

    def _service_at(
        self,
        e: Any,
        specialists: type[contract.ServiceDefined] | type[contract.ServiceUpdated],
        teams: type[contract.TeamServiceDefined] | type[contract.TeamServiceUpdated],
    ) -> contract.Payload:
        """The whole definition (an update records only the changed fields), as `teams`'
        payload for a team's service, else as `specialists'`."""
        service: Service = self._app.repository.get(e.originator_id, version=e.originator_version)
        definition = {"service_id": service.id, **asdict(service.terms)}
        if service.specialist_id is not None:
            return specialists(specialist_id=service.specialist_id, **definition)
        assert service.team_id is not None and service.assignment is not None
        return teams(
            specialist_id=NO_SPECIALIST,
            team_id=service.team_id,
            assignment=service.assignment,
            **definition,
        )

    @staticmethod
    def _slot_requested(e: Any) -> contract.Payload:
        return contract.SlotRequested(
            booking_id=e.originator_id,
            service_id=e.service_id,
            starts_at=e.starts_at,
            ends_at=e.ends_at,
            busy_from=e.busy_from,
            busy_until=e.busy_until,
            client=e.client,
            answers=e.answers,
            notes=e.notes,
            team_id=getattr(e, "team_id", None),
            # A collective booking's members; before teams, the booking's one specialist.
            specialist_ids=[e.specialist_id, *(getattr(e, "co_claims", None) or {})],
        )


@contextmanager
def booking_log(database_url: str, snapshots: bool = True) -> Iterator[NotificationLog]:
    """The booking event store as integration events: what read models rebuild from
    (without the booking snapshots if told: for a read model that ignores them).

    The mapper remembers every booking's specialist (a replay meets a booking's later
    events long after its first), which costs about 200 bytes a booking.
    """
    app = open_application(lambda env: Bookings(env=env), database_url)
    try:
        yield NotificationLog(
            app, IntegrationMapper(app, cache_size=sys.maxsize, snapshots=snapshots)
        )
    finally:
        app.close()
