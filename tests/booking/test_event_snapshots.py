"""Every booking lifecycle event carries the booking as it stands after it (issue 8, 3).

The booking API runs in-process on its own PostgreSQL database; the integration events
are read back through `booking_log`, the same mapper the relay and `republish` use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from booking.integration import booking_log
from booking.main import create_app
from kairos.events import REGISTRY, Envelope
from kairos.events.booking import BookingEvent, BookingSnapshot
from tests.booking.conftest import API_NOW, booking_settings
from tests.booking.helpers import (
    ADMIN,
    ALL_DAY_EVERY_DAY,
    Catalog,
    FrozenClock,
    bearer,
    expect,
    reveal,
)

pytestmark = pytest.mark.integration

MONDAY_TEN = API_NOW + timedelta(days=7, hours=10)


@dataclass
class World:
    database: str
    http: TestClient
    catalog: Catalog


@pytest.fixture
def world(fresh_database: Callable[[], str], redis_url: str) -> Iterator[World]:
    database = fresh_database()
    app = create_app(booking_settings(database, redis_url), clock=FrozenClock(API_NOW))
    with TestClient(app) as http:
        yield World(database, http, Catalog(http))


def published(database: str, after: int = 0, snapshots: bool = True) -> list[Envelope]:
    """The integration events after `after`, as a relay starting there publishes them."""
    with booking_log(database, snapshots=snapshots) as log:
        return [e for page in log.envelopes(after, log.top()) for e in page]


def snapshots_of(envelopes: list[Envelope], booking_id: str) -> list[tuple[str, BookingSnapshot]]:
    """(type, snapshot) of a booking's events, from each envelope alone."""
    out = []
    for envelope in envelopes:
        payload = REGISTRY.decode(envelope)
        if isinstance(payload, BookingEvent) and str(payload.booking_id) == booking_id:
            assert payload.booking is not None, f"{envelope.type} carries no snapshot"
            out.append((envelope.type, payload.booking))
    return out


def lifecycle(world: World) -> dict[str, Any]:
    """Book, rename the service and move the specialist's zone, reschedule, cancel."""
    specialist = world.catalog.specialist(
        timezone="Europe/Berlin", weekly=ALL_DAY_EVERY_DAY, name="Dr. Snap"
    )
    service = world.catalog.service(
        specialist["id"],
        name="Intake",
        duration_minutes=45,
        slot_interval_minutes=15,
        buffer_after_minutes=15,
    )
    booked = world.catalog.booked(
        service["id"],
        MONDAY_TEN,
        client={
            "name": "Ada Client",
            "email": "ada@example.org",
            "timezone": "America/New_York",
            "phone": "+1 555 0100",
        },
        answers={},
    )
    expect(
        world.http.patch(
            f"/v1/services/{service['id']}", json={"name": "Follow-up"}, headers=ADMIN
        ),
        200,
    )
    expect(
        world.http.put(
            f"/v1/specialists/{specialist['id']}/schedule",
            json={"timezone": "Europe/Lisbon", "weekly": ALL_DAY_EVERY_DAY},
            headers=ADMIN,
        ),
        200,
    )
    manage = bearer(booked["manage_token"])
    new_start = MONDAY_TEN + timedelta(days=1)
    expect(
        world.http.post(
            f"/v1/bookings/{booked['id']}/reschedule",
            json={"starts_at": new_start.isoformat()},
            headers=manage,
        ),
        200,
    )
    expect(world.http.post(f"/v1/bookings/{booked['id']}/cancel", headers=manage), 200)
    return {"specialist": specialist, "service": service, "booking": booked, "moved": new_start}


def test_each_lifecycle_event_says_who_when_and_what_on_its_own(world: World) -> None:
    made = lifecycle(world)
    events = snapshots_of(published(world.database), made["booking"]["id"])

    assert [t for t, _ in events] == [
        "SlotRequested",
        "BookingConfirmed",
        "BookingRescheduled",
        "BookingCancelled",
    ]
    snapshots = dict(events)
    assert [s.status for _, s in events] == ["requested", "confirmed", "confirmed", "cancelled"]
    confirmed = snapshots["BookingConfirmed"]
    # who: the client's contact and zone, the specialist's
    assert reveal(world.database, confirmed.client.contact.name) == "Ada Client"
    assert reveal(world.database, confirmed.client.contact.email) == "ada@example.org"
    assert reveal(world.database, confirmed.client.contact.phone) == "+1 555 0100"
    assert confirmed.client.timezone == "America/New_York"
    assert str(confirmed.specialist.specialist_id) == made["specialist"]["id"]
    assert reveal(world.database, confirmed.specialist.contact.name) == "Dr. Snap"
    specialist_email = reveal(world.database, confirmed.specialist.contact.email)
    assert specialist_email == made["specialist"]["email"]
    assert confirmed.specialist.timezone == "Europe/Berlin"
    # what
    assert str(confirmed.service.service_id) == made["service"]["id"]
    assert (confirmed.service.name, confirmed.service.duration_minutes) == ("Intake", 45)
    # when, and the time it keeps busy
    assert confirmed.starts_at == MONDAY_TEN
    assert confirmed.ends_at == MONDAY_TEN + timedelta(minutes=45)
    assert (confirmed.busy_from, confirmed.busy_until) == (
        MONDAY_TEN,
        MONDAY_TEN + timedelta(minutes=60),
    )
    assert confirmed.answers == {}

    # Later events show the booking, the service and the specialist as they then stood.
    for later in ("BookingRescheduled", "BookingCancelled"):
        snapshot = snapshots[later]
        assert snapshot.starts_at == made["moved"]
        assert snapshot.service.name == "Follow-up"
        assert snapshot.specialist.timezone == "Europe/Lisbon"
        assert snapshot.client == confirmed.client


def test_a_republished_event_carries_the_same_snapshot_as_the_first_copy(world: World) -> None:
    """Snapshots are computed from the event store when an event is (re)published: a relay
    starting mid-log (nothing cached) and one reading from the start agree, although the
    service was renamed and the specialist moved zone after the booking was confirmed."""
    made = lifecycle(world)
    first = published(world.database)
    confirmed = next(
        e
        for e in first
        if e.type == "BookingConfirmed" and str(e.aggregate_id) == made["booking"]["id"]
    )

    again = published(world.database, after=confirmed.notification_id - 1)

    assert again == [e for e in first if e.notification_id >= confirmed.notification_id]
    snapshot = REGISTRY.decode(again[0])
    assert isinstance(snapshot, BookingEvent) and snapshot.booking is not None
    assert snapshot.booking.service.name == "Intake"
    assert snapshot.booking.specialist.timezone == "Europe/Berlin"


def test_events_of_the_catalog_carry_no_snapshot_field(world: World) -> None:
    lifecycle(world)
    for envelope in published(world.database):
        assert ("booking" in envelope.data) == envelope.type.startswith(
            ("Booking", "SlotRequested", "NoShowMarked")
        ), envelope.type


def test_a_rebuild_that_reads_no_snapshot_can_go_without_them(world: World) -> None:
    lifecycle(world)
    with_them = published(world.database)
    without = published(world.database, snapshots=False)

    assert [e.data.get("booking") for e in without if e.type.startswith("Booking")] == [None] * 3
    strip = [{k: v for k, v in e.data.items() if k != "booking"} for e in with_them]
    assert strip == [{k: v for k, v in e.data.items() if k != "booking"} for e in without]
