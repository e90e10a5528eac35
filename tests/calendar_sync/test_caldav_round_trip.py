"""A specialist's bookings appear in their CalDAV calendar (Radicale), move with a
reschedule, leave on cancel, and a redelivery never adds a second copy."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from icalendar import Calendar

from calendar_sync.effects import event_uid
from tests.booking.helpers import ADMIN, expect
from tests.calendar_sync.conftest import CalendarWorld

MONDAY_10_BERLIN = "2026-03-09T09:00:00Z"
MONDAY_12_BERLIN = "2026-03-09T11:00:00Z"


def vevents(world: CalendarWorld, connection: dict[str, object]) -> list[object]:
    calendar = world.caldav_calendar(connection)  # type: ignore[arg-type]
    found = []
    for resource in calendar.events():
        found += [c for c in Calendar.from_ical(resource.data).walk("VEVENT")]
    return found


def test_a_booking_is_put_moved_and_removed_once_however_often_delivered(
    world: CalendarWorld,
) -> None:
    specialist = world.catalog.specialist(timezone="Europe/Berlin")
    service = world.catalog.service(specialist["id"], name="Intake")
    connection = world.connect_caldav(specialist["id"])
    assert connection["status"] == "active" and connection["provider"] == "caldav"

    booked = world.catalog.booked(service["id"], MONDAY_10_BERLIN)
    assert world.deliver() == 1
    (event,) = vevents(world, connection)
    assert str(event["UID"]) == event_uid(UUID(booked["id"]), UUID(connection["id"]))
    assert event.decoded("DTSTART") == datetime(2026, 3, 9, 9, tzinfo=UTC)
    assert event.decoded("DTEND") == datetime(2026, 3, 9, 10, tzinfo=UTC)
    assert str(event["SUMMARY"]) == f"Intake with {booked['client']['name']}"
    assert str(event["ATTENDEE"]).lower() == f"mailto:{booked['client']['email']}".lower()
    assert str(event["LOCATION"]) == f"https://kairos.test/bookings/{booked['id']}/join"

    moved = {"starts_at": MONDAY_12_BERLIN}
    expect(
        world.booking.post(f"/v1/bookings/{booked['id']}/reschedule", json=moved, headers=ADMIN),
        200,
    )
    world.deliver()
    (event,) = vevents(world, connection)
    assert event.decoded("DTSTART") == datetime(2026, 3, 9, 11, tzinfo=UTC)

    world.redeliver()
    assert len(vevents(world, connection)) == 1

    expect(world.booking.post(f"/v1/bookings/{booked['id']}/cancel", json={}, headers=ADMIN), 200)
    world.deliver()
    assert vevents(world, connection) == []
    world.redeliver()
    assert vevents(world, connection) == []


def test_bookings_made_before_connecting_appear_once_connected(world: CalendarWorld) -> None:
    specialist = world.catalog.specialist(timezone="Europe/Berlin")
    service = world.catalog.service(specialist["id"], name="Intake")
    booked = world.catalog.booked(service["id"], MONDAY_10_BERLIN)
    world.deliver()  # nothing connected yet: nothing to write

    connection = world.connect_caldav(specialist["id"])
    world.deliver()
    (event,) = vevents(world, connection)
    assert str(event["UID"]) == event_uid(UUID(booked["id"]), UUID(connection["id"]))


def test_an_erased_client_leaves_the_calendars_too(world: CalendarWorld) -> None:
    specialist = world.catalog.specialist(timezone="Europe/Berlin")
    service = world.catalog.service(specialist["id"], name="Intake")
    connection = world.connect_caldav(specialist["id"])
    booked = world.catalog.booked(service["id"], MONDAY_10_BERLIN)
    world.deliver()
    (event,) = vevents(world, connection)
    assert "ATTENDEE" in event

    erasure = expect(
        world.booking.post(
            "/v1/privacy/erasures", json={"email": booked["client"]["email"]}, headers=ADMIN
        ),
        202,
    )
    world.deliver()
    (event,) = vevents(world, connection)
    assert str(event["SUMMARY"]) == "Intake with [erased]"
    assert "ATTENDEE" not in event
    state = expect(world.booking.get(f"/v1/privacy/erasures/{erasure['id']}", headers=ADMIN), 200)
    assert state["services"]["calendar-sync"] == "done"


def test_a_collective_booking_is_in_every_members_calendar(world: CalendarWorld) -> None:
    team, members = world.catalog.team(2)
    together = world.catalog.team_service(team["id"], "collective", name="Panel")
    connections = [world.connect_caldav(member) for member in members]

    booked = world.catalog.booked(together["id"], MONDAY_10_BERLIN)
    world.deliver()
    for connection in connections:
        (event,) = vevents(world, connection)
        assert str(event["UID"]) == event_uid(UUID(booked["id"]), UUID(connection["id"]))

    expect(world.booking.post(f"/v1/bookings/{booked['id']}/cancel", json={}, headers=ADMIN), 200)
    world.deliver()
    assert [vevents(world, connection) for connection in connections] == [[], []]


def test_a_reassigned_booking_leaves_one_members_calendar_for_the_others(
    world: CalendarWorld,
) -> None:
    team, members = world.catalog.team(2)
    either = world.catalog.team_service(team["id"], "round_robin", name="Intro")
    booked = world.catalog.booked(either["id"], MONDAY_10_BERLIN)
    first = booked["specialist_id"]
    (other,) = [m for m in members if m != first]
    calendar = {member: world.connect_caldav(member) for member in members}
    world.deliver()
    assert len(vevents(world, calendar[first])) == 1
    assert vevents(world, calendar[other]) == []

    expect(
        world.booking.post(
            f"/v1/bookings/{booked['id']}/reassign", json={"specialist_id": other}, headers=ADMIN
        ),
        200,
    )
    world.deliver()
    world.redeliver()  # a copy of the whole log puts nothing back
    assert vevents(world, calendar[first]) == []
    (event,) = vevents(world, calendar[other])
    assert str(event["UID"]) == event_uid(UUID(booked["id"]), UUID(calendar[other]["id"]))
    assert event.decoded("DTSTART") == datetime(2026, 3, 9, 9, tzinfo=UTC)
