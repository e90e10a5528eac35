"""A team's service in GET /v1/slots (issue 15): round-robin offers every time at which at
least one member is free, collective only those at which all are; an admin also sees who
is free at each; and every time offered is one the booking API books."""

from __future__ import annotations

from typing import Any

import pytest

from tests.availability.conftest import World
from tests.booking.helpers import ADMIN, CONSULTATION, error_code, expect

pytestmark = pytest.mark.integration

MONDAY = "2026-03-09"  # the world's clock is a week before


@pytest.fixture
def world(shared_world: World) -> World:
    return shared_world


def z(*times: str) -> list[str]:
    return [f"{MONDAY}T{t}:00Z" for t in times]


def team(world: World, hours: list[tuple[str, str]]) -> list[str]:
    """A team of specialists in UTC, each working its (start, end) every day."""
    members = [
        world.catalog.specialist(weekly=[{"day": d, "start": start, "end": end} for d in range(7)])[
            "id"
        ]
        for start, end in hours
    ]
    body = {"name": "Partners", "members": [{"specialist_id": m} for m in members]}
    team_id = expect(world.booking.post("/v1/teams", json=body, headers=ADMIN), 201)["id"]
    return [team_id, *members]


def team_service(world: World, team_id: str, assignment: str) -> str:
    body = {"team_id": team_id, "assignment": assignment, **CONSULTATION}
    service: dict[str, Any] = expect(
        world.booking.post("/v1/services", json=body, headers=ADMIN), 201
    )
    return str(service["id"])


def slots(world: World, service_id: str, **headers: str) -> list[dict[str, Any]]:
    world.sync()
    query = {"service_id": service_id, "from": MONDAY, "to": MONDAY}
    found: list[dict[str, Any]] = expect(
        world.slots_api.get("/v1/slots", params=query, headers=headers), 200
    )["slots"]
    return found


def test_round_robin_offers_the_union_and_collective_the_intersection(world: World) -> None:
    team_id, early, late = team(world, [("09:00", "12:00"), ("11:00", "14:00")])
    either = team_service(world, team_id, "round_robin")
    both = team_service(world, team_id, "collective")

    assert [s["start"] for s in slots(world, either)] == z(
        "09:00", "10:00", "11:00", "12:00", "13:00"
    )
    assert [s["start"] for s in slots(world, both)] == z("11:00")
    assert all("members" not in s for s in slots(world, either))
    assert [s["members"] for s in slots(world, either, **ADMIN)] == [
        [early],
        [early],
        [early, late],
        [late],
        [late],
    ]


def test_a_member_booked_drops_out_of_the_slot_until_none_is_left(world: World) -> None:
    team_id, first, second = team(world, [("09:00", "11:00"), ("09:00", "11:00")])
    either = team_service(world, team_id, "round_robin")
    both = team_service(world, team_id, "collective")
    nine = z("09:00")[0]

    booked = world.catalog.booked(either, nine)
    [free] = {first, second} - {booked["specialist_id"]}

    at_nine = next(s for s in slots(world, either, **ADMIN) if s["start"] == nine)
    assert at_nine["members"] == [free]
    assert [s["start"] for s in slots(world, both)] == z("10:00")
    world.catalog.booked(either, nine)
    assert [s["start"] for s in slots(world, either)] == z("10:00")
    assert error_code(world.catalog.book(either, nine), 409) == "slot_unavailable"


def test_a_collective_booking_takes_the_time_of_every_member(world: World) -> None:
    team_id, first, second = team(world, [("09:00", "11:00"), ("09:00", "11:00")])
    both = team_service(world, team_id, "collective")
    first_alone = world.catalog.service(first)["id"]
    second_alone = world.catalog.service(second)["id"]

    booking = world.catalog.booked(both, z("10:00")[0])

    assert [s["start"] for s in slots(world, first_alone)] == z("09:00")
    assert [s["start"] for s in slots(world, second_alone)] == z("09:00")
    expect(world.booking.post(f"/v1/bookings/{booking['id']}/cancel", json={}, headers=ADMIN), 200)
    assert [s["start"] for s in slots(world, second_alone)] == z("09:00", "10:00")


def test_a_reassigned_booking_frees_one_member_and_takes_the_other(world: World) -> None:
    team_id, first, second, third = team(world, [("09:00", "10:00")] * 3)
    either = team_service(world, team_id, "round_robin")
    booking = world.catalog.booked(either, z("09:00")[0])
    to = next(m for m in (first, second, third) if m != booking["specialist_id"])

    expect(
        world.booking.post(
            f"/v1/bookings/{booking['id']}/reassign", json={"specialist_id": to}, headers=ADMIN
        ),
        200,
    )

    [slot] = slots(world, either, **ADMIN)
    assert set(slot["members"]) == {first, second, third} - {to}
