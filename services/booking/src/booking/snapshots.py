"""The `booking` snapshot every lifecycle event carries: the booking as it stands after it.

The relay computes it while it maps a stored event (so do `republish` and replays), from
the stored aggregates: events stored before snapshots existed get one whenever they are
published again, and the stored events stay as they were. A snapshot must not depend on
when it is computed, or a republished copy would differ from the first:
- the booking is exact: its state at the event's own version;
- its service and specialist are as they stood when the event happened: their states
  after their events with a timestamp up to the event's.

The mapper reads the log in order, so each aggregate's states are loaded once and then
kept current by the events that pass (`saw`); nothing is queried on the hot path.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar, cast
from uuid import UUID

from eventsourcing.application import Application

from booking.domain import Booking, Service, Specialist
from kairos.events import booking as contract

T = TypeVar("T")


@dataclass
class _Timeline(Generic[T]):
    """An aggregate folded up to its latest version seen, and its summaries by time."""

    aggregate: Any
    times: list[datetime] = field(default_factory=list)
    states: list[T] = field(default_factory=list)

    def add(self, event: Any, summarise: Callable[[Any], T]) -> None:
        self.aggregate = event.mutate(self.aggregate)
        self.times.append(event.timestamp)
        self.states.append(summarise(self.aggregate))


class _LRU(Generic[T]):
    def __init__(self, size: int) -> None:
        self._items: OrderedDict[UUID, T] = OrderedDict()
        self._size = size

    def get(self, key: UUID) -> T | None:
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item

    def put(self, key: UUID, item: T) -> None:
        self._items[key] = item
        self._items.move_to_end(key)
        if len(self._items) > self._size:
            self._items.popitem(last=False)

    def drop(self, key: UUID) -> None:
        self._items.pop(key, None)


class History(Generic[T]):
    """Summaries of aggregates' states over time, as of any instant."""

    def __init__(
        self, app: Application[UUID], summarise: Callable[[Any], T], cache_size: int
    ) -> None:
        self._app = app
        self._summarise = summarise
        self._timelines: _LRU[_Timeline[T]] = _LRU(cache_size)

    def saw(self, event: Any) -> None:
        """Keep a loaded timeline current with `event`, which the log yields in order."""
        timeline = self._timelines.get(event.originator_id)
        if timeline is None or event.originator_version <= timeline.aggregate.version:
            return
        if event.originator_version == timeline.aggregate.version + 1:
            timeline.add(event, self._summarise)
        else:  # missed some: load it afresh when next needed
            self._timelines.drop(event.originator_id)

    def at(self, aggregate_id: UUID, when: datetime) -> T:
        """The aggregate's summary after its events up to `when` (its first, if none)."""
        timeline = self._timelines.get(aggregate_id)
        if timeline is None:
            timeline = _Timeline[T](aggregate=None)
            for event in self._app.repository.event_store.get(aggregate_id):
                timeline.add(event, self._summarise)
            self._timelines.put(aggregate_id, timeline)
        return timeline.states[max(bisect_right(timeline.times, when) - 1, 0)]


def _service(service: Service) -> contract.BookedService:
    return contract.BookedService(
        service_id=service.id,
        name=service.terms.name,
        duration_minutes=service.terms.duration_minutes,
    )


def _specialist(specialist: Specialist) -> contract.BookedSpecialist:
    return contract.BookedSpecialist(
        specialist_id=specialist.id,
        timezone=specialist.timezone,
        contact=contract.PersonalContact.model_validate(
            {"name": specialist.name, "email": specialist.email}
        ),
    )


class Snapshots:
    """Computes the snapshot of each booking event the mapper meets, in log order."""

    # A booking's later events mostly come soon after its first; a miss costs one read.
    BOOKINGS_KEPT = 10_000

    def __init__(self, app: Application[UUID], cache_size: int) -> None:
        self._app = app
        self._bookings: _LRU[Booking] = _LRU(min(cache_size, self.BOOKINGS_KEPT))
        self._services = History(app, _service, cache_size)
        self._specialists = History(app, _specialist, cache_size)

    def saw(self, event: Any) -> None:
        """Every published event passes here, so the histories of those loaded stay current."""
        if isinstance(event, Service.Event):
            self._services.saw(event)
        elif isinstance(event, Specialist.Event):
            self._specialists.saw(event)

    def of(self, event: Any) -> contract.BookingSnapshot:
        """The snapshot after `event`, an event of a Booking."""
        booking = self._booking_after(event)
        client = booking.client
        return contract.BookingSnapshot(
            # The aggregate's statuses are the contract's; pydantic checks it all the same.
            status=cast(contract.BookingStatus, booking.status),
            service=self._services.at(booking.service_id, event.timestamp),
            specialist=self._specialists.at(booking.specialist_id, event.timestamp),
            client=contract.BookedClient(
                timezone=client["timezone"],
                contact=contract.PersonalContact.model_validate(
                    {"name": client["name"], "email": client["email"], "phone": client.get("phone")}
                ),
            ),
            starts_at=booking.starts_at,
            ends_at=booking.ends_at,
            busy_from=booking.busy_from,
            busy_until=booking.busy_until,
            answers=booking.answers,  # type: ignore[arg-type]  # sealed: validated as Sealed
            team_id=booking.team_id,
            specialist_ids=booking.specialist_ids,
            co_specialists=[
                self._specialists.at(member, event.timestamp)
                for member in booking.specialist_ids
                if member != booking.specialist_id
            ],
        )

    def _booking_after(self, event: Any) -> Booking:
        version = event.originator_version
        cached = self._bookings.get(event.originator_id)
        if cached is not None and cached.version == version:
            return cached  # the same event mapped again
        if version == 1:
            booking: Booking = event.mutate(None)
        elif cached is not None and cached.version == version - 1:
            booking = event.mutate(cached)
        else:
            booking = self._app.repository.get(event.originator_id, version=version)
        self._bookings.put(event.originator_id, booking)
        return booking
