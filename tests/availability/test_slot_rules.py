"""The slot rules of ARCHITECTURE.md, one scenario per rule, through the real HTTP APIs.

Every scenario sets up a specialist and services through the booking API, books, cancels,
declines or reschedules there, brings the availability read model up to date from the
booking event store (`world.offered` syncs), and reads GET /v1/slots. Where the booking
side has a say, it is asked too: a start is bookable exactly when it is offered.

The expected starts are worked out by hand from the rules in each scenario's comments.
Unless a test says otherwise the specialist works in UTC, so local times and the UTC
instants the API answers with read the same; the clock stands at Monday 2026-03-02 00:00Z
and the scenarios play out a week later.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from tests.availability.conftest import World
from tests.booking.helpers import ADMIN, bearer, error_code, expect

pytestmark = pytest.mark.integration


@pytest.fixture
def world(shared_world: World) -> World:
    return shared_world


MONDAY, TUESDAY, WEDNESDAY = "2026-03-09", "2026-03-10", "2026-03-11"
SATURDAY = "2026-03-14"
NINE_TO_FIVE_MONDAY = [{"day": 0, "start": "09:00", "end": "17:00"}]
NINE_TO_FIVE_WEEKDAYS = [{"day": d, "start": "09:00", "end": "17:00"} for d in range(5)]


def z(day: str, *times: str) -> list[str]:
    """UTC instants as the API writes them: z(MONDAY, "09:00") == ["2026-03-09T09:00:00Z"]."""
    return [f"{day}T{t}:00Z" for t in times]


def hours(first: int, last: int) -> tuple[str, ...]:
    """Whole hours first..last as HH:MM."""
    return tuple(f"{h:02d}:00" for h in range(first, last + 1))


def utc_specialist(world: World, weekly: list[dict[str, Any]] | None = None) -> str:
    sp = world.catalog.specialist("UTC", weekly=NINE_TO_FIVE_MONDAY if weekly is None else weekly)
    return str(sp["id"])


def service(world: World, specialist_id: str, **fields: Any) -> str:
    return str(world.catalog.service(specialist_id, **fields)["id"])


def booking_code(world: World, service_id: str, starts_at: str, status: int) -> str:
    return error_code(world.catalog.book(service_id, starts_at), status)


# --- working windows ---------------------------------------------------------------------


def test_each_of_several_windows_a_day_is_stepped_from_its_own_start(world: World) -> None:
    # Monday: 09:00-11:00, 13:00-14:30, 16:00-17:00 and 18:00-18:45 (too short for an hour).
    specialist = utc_specialist(
        world,
        [
            {"day": 0, "start": "09:00", "end": "11:00"},
            {"day": 0, "start": "13:00", "end": "14:30"},
            {"day": 0, "start": "16:00", "end": "17:00"},
            {"day": 0, "start": "18:00", "end": "18:45"},
        ],
    )
    hour = service(world, specialist)

    # 13:00-14:00 fits the second window, 14:00-15:00 runs past its end; Tuesday has none.
    assert world.offered(hour, MONDAY, TUESDAY) == z(MONDAY, "09:00", "10:00", "13:00", "16:00")
    # What is not offered can't be booked: between windows, past a window's end, off the grid.
    assert booking_code(world, hour, z(MONDAY, "11:00")[0], 422) == "outside_availability"
    assert booking_code(world, hour, z(MONDAY, "14:00")[0], 422) == "outside_availability"
    assert booking_code(world, hour, z(MONDAY, "13:30")[0], 422) == "outside_availability"
    assert booking_code(world, hour, z(MONDAY, "18:00")[0], 422) == "outside_availability"
    assert expect(world.catalog.book(hour, z(MONDAY, "13:00")[0]), 201)["status"] == "confirmed"


def test_a_blocked_override_empties_its_date_and_clearing_it_brings_the_week_back(
    world: World,
) -> None:
    specialist = utc_specialist(world, NINE_TO_FIVE_WEEKDAYS)
    hour = service(world, specialist)
    expect(
        world.booking.put(
            f"/v1/specialists/{specialist}/overrides/{TUESDAY}",
            json={"blocked": True},
            headers=ADMIN,
        ),
        200,
    )

    offered = world.offered(hour, MONDAY, WEDNESDAY)

    assert offered == list(z(MONDAY, *hours(9, 16)) + z(WEDNESDAY, *hours(9, 16)))
    assert booking_code(world, hour, z(TUESDAY, "09:00")[0], 422) == "outside_availability"

    expect(
        world.booking.delete(f"/v1/specialists/{specialist}/overrides/{TUESDAY}", headers=ADMIN),
        204,
    )

    assert world.offered(hour, TUESDAY, TUESDAY) == z(TUESDAY, *hours(9, 16))


def test_an_override_with_windows_replaces_the_weekly_windows_of_its_date(world: World) -> None:
    specialist = utc_specialist(world, NINE_TO_FIVE_WEEKDAYS)
    hour = service(world, specialist)
    for day, windows in (
        (TUESDAY, [{"start": "07:00", "end": "08:30"}, {"start": "18:00", "end": "19:00"}]),
        # Saturday has no weekly windows: an override opens it.
        (SATURDAY, [{"start": "10:00", "end": "12:00"}]),
    ):
        expect(
            world.booking.put(
                f"/v1/specialists/{specialist}/overrides/{day}",
                json={"windows": windows},
                headers=ADMIN,
            ),
            200,
        )

    # Tuesday: 07:00-08:00 fits, 08:00-09:00 does not; the weekly 09:00-17:00 is gone.
    assert world.offered(hour, TUESDAY, TUESDAY) == z(TUESDAY, "07:00", "18:00")
    assert world.offered(hour, SATURDAY, SATURDAY) == z(SATURDAY, "10:00", "11:00")
    # Monday and Wednesday keep their weekly windows.
    assert world.offered(hour, MONDAY, MONDAY) == z(MONDAY, *hours(9, 16))
    assert world.offered(hour, WEDNESDAY, WEDNESDAY) == z(WEDNESDAY, *hours(9, 16))
    assert booking_code(world, hour, z(TUESDAY, "09:00")[0], 422) == "outside_availability"
    expect(world.catalog.book(hour, z(TUESDAY, "18:00")[0]), 201)


# --- buffers -------------------------------------------------------------------------------


def test_buffers_of_two_services_add_up_between_their_bookings(world: World) -> None:
    specialist = utc_specialist(world)
    # A keeps 15 minutes free after each booking; B needs 10 minutes free before each.
    a = service(world, specialist, buffer_after_minutes=15)
    b = service(world, specialist, buffer_before_minutes=10)
    world.catalog.booked(a, z(MONDAY, "10:00")[0])  # busy 10:00-11:15

    # B: 09:00 (padded 08:50-10:00) ends as A's booking starts: no clash. 10:00 clashes;
    # stepping restarts at 11:15 + 10 = 11:25, then every hour while the slot fits by 17:00.
    assert world.offered(b, MONDAY, MONDAY) == z(
        MONDAY, "09:00", "11:25", "12:25", "13:25", "14:25", "15:25"
    )
    # A: 09:00 padded to 10:15 clashes with its own booking; restart at 11:15 (no before-buffer).
    assert world.offered(a, MONDAY, MONDAY) == z(
        MONDAY, "11:15", "12:15", "13:15", "14:15", "15:15"
    )
    # B at 11:20 would need 11:10 free, inside A's after-buffer.
    assert booking_code(world, b, z(MONDAY, "11:20")[0], 409) == "slot_unavailable"
    assert booking_code(world, b, z(MONDAY, "11:15")[0], 409) == "slot_unavailable"
    b_booking = world.catalog.booked(b, z(MONDAY, "11:25")[0])  # busy 11:15-12:25
    assert b_booking["status"] == "confirmed"

    # Now A: 11:15 (padded to 12:30) meets B's booking; the next start is B's end, 12:25.
    assert world.offered(a, MONDAY, MONDAY) == z(MONDAY, "12:25", "13:25", "14:25", "15:25")


def test_a_before_buffer_of_the_existing_booking_keeps_the_new_slots_after_buffer_off_it(
    world: World,
) -> None:
    specialist = utc_specialist(world)
    # A needs 20 minutes free before each booking; C keeps 10 minutes free after each.
    a = service(world, specialist, buffer_before_minutes=20)
    c = service(world, specialist, duration_minutes=30, buffer_after_minutes=10)
    world.catalog.booked(a, z(MONDAY, "11:00")[0])  # busy 10:40-12:00

    # C steps by 30 minutes: 10:00 (padded to 10:40) just fits; 10:30 clashes and stepping
    # restarts at 12:00, then on every half hour up to 16:30.
    offered = world.offered(c, MONDAY, MONDAY)

    assert offered == z(MONDAY, "09:00", "09:30", "10:00") + z(
        MONDAY, *(f"{h:02d}:{m:02d}" for h in range(12, 17) for m in (0, 30))
    )
    assert booking_code(world, c, z(MONDAY, "10:30")[0], 409) == "slot_unavailable"
    expect(world.catalog.book(c, z(MONDAY, "10:00")[0]), 201)


# --- notice and horizon ---------------------------------------------------------------------


def test_minimum_notice_hides_starts_before_now_plus_notice_and_the_boundary_is_offered(
    world: World,
) -> None:
    specialist = utc_specialist(world)
    two_hours = service(world, specialist, minimum_notice_minutes=120)
    world.clock.now = datetime.fromisoformat("2026-03-09T10:00:00+00:00")

    # now + 2 h = 12:00, which is itself offered.
    assert world.offered(two_hours, MONDAY, MONDAY) == z(MONDAY, *hours(12, 16))
    assert booking_code(world, two_hours, z(MONDAY, "11:00")[0], 422) == "too_soon"
    expect(world.catalog.book(two_hours, z(MONDAY, "12:00")[0]), 201)

    # Twenty minutes later 12:00 is inside the notice, and taken anyway; 13:00 stays.
    world.clock.now = datetime.fromisoformat("2026-03-09T10:20:00+00:00")
    assert world.offered(two_hours, MONDAY, MONDAY) == z(MONDAY, *hours(13, 16))


def test_max_advance_days_hide_starts_beyond_the_horizon_and_the_boundary_is_offered(
    world: World,
) -> None:
    specialist = utc_specialist(world, NINE_TO_FIVE_WEEKDAYS)
    week = service(world, specialist, max_advance_days=7)
    world.clock.now = datetime.fromisoformat("2026-03-02T10:00:00+00:00")

    # now + 7 days = Monday 10:00: offered; 11:00 is beyond it and so is all of Tuesday.
    assert world.offered(week, MONDAY, TUESDAY) == z(MONDAY, "09:00", "10:00")
    assert booking_code(world, week, z(MONDAY, "11:00")[0], 422) == "too_far"
    assert booking_code(world, week, z(TUESDAY, "09:00")[0], 422) == "too_far"
    expect(world.catalog.book(week, z(MONDAY, "10:00")[0]), 201)


# --- max per day ------------------------------------------------------------------------------


def test_max_per_day_counts_the_services_bookings_on_the_specialists_local_day_pending_too(
    world: World,
) -> None:
    # Tokyo is UTC+9 with no DST: the 06:00-12:00 window of a local day runs from 21:00Z
    # the evening before to 03:00Z, so one UTC date holds two local days' bookings.
    sp = world.catalog.specialist(
        "Asia/Tokyo",
        weekly=[{"day": d, "start": "06:00", "end": "12:00"} for d in (0, 1)],
    )
    limited = service(world, sp["id"], max_per_day=2, requires_approval=True)
    unlimited = service(world, sp["id"])
    monday_11 = world.catalog.booked(limited, "2026-03-09T02:00:00Z")  # Mon 11:00 local
    tuesday_06 = world.catalog.booked(limited, "2026-03-09T21:00:00Z")  # Tue 06:00 local
    assert monday_11["status"] == tuesday_06["status"] == "pending"

    # Two on UTC date 2026-03-09, but one on each local day: neither local day is full.
    assert world.offered(limited, MONDAY, MONDAY) == [
        "2026-03-08T21:00:00Z",
        "2026-03-08T22:00:00Z",
        "2026-03-08T23:00:00Z",
        "2026-03-09T00:00:00Z",
        "2026-03-09T01:00:00Z",
    ]
    world.catalog.booked(limited, "2026-03-10T01:00:00Z")  # Tue 10:00 local, pending too

    # Tuesday (local) now holds two: nothing more is offered or bookable that day.
    assert world.offered(limited, TUESDAY, TUESDAY) == []
    assert world.offered(limited, MONDAY, MONDAY)[0] == "2026-03-08T21:00:00Z"
    assert booking_code(world, limited, "2026-03-09T22:00:00Z", 409) == "day_full"
    # The limit is per service: another service of the specialist only sees the busy time.
    assert world.offered(unlimited, TUESDAY, TUESDAY) == [
        "2026-03-09T22:00:00Z",
        "2026-03-09T23:00:00Z",
        "2026-03-10T00:00:00Z",
        "2026-03-10T02:00:00Z",
    ]

    # A declined booking no longer counts: the day opens again around the remaining one.
    expect(world.booking.post(f"/v1/bookings/{tuesday_06['id']}/decline", headers=ADMIN), 200)
    assert world.offered(limited, TUESDAY, TUESDAY) == [
        "2026-03-09T21:00:00Z",
        "2026-03-09T22:00:00Z",
        "2026-03-09T23:00:00Z",
        "2026-03-10T00:00:00Z",
        "2026-03-10T02:00:00Z",
    ]


# --- slot interval and restarts ----------------------------------------------------------------


def test_a_slot_interval_shorter_than_the_duration_offers_overlapping_candidates(
    world: World,
) -> None:
    specialist = utc_specialist(world, [{"day": 0, "start": "09:00", "end": "12:00"}])
    hour_every_half = service(world, specialist, duration_minutes=60, slot_interval_minutes=30)

    # 11:30-12:30 runs past the window.
    assert world.offered(hour_every_half, MONDAY, MONDAY) == z(
        MONDAY, "09:00", "09:30", "10:00", "10:30", "11:00"
    )
    assert booking_code(world, hour_every_half, z(MONDAY, "09:45")[0], 422) == (
        "outside_availability"
    )
    world.catalog.booked(hour_every_half, z(MONDAY, "10:00")[0])

    # 09:30 and 10:30 overlap the booking; 09:30 clashes and stepping restarts at 11:00.
    assert world.offered(hour_every_half, MONDAY, MONDAY) == z(MONDAY, "09:00", "11:00")


def test_a_slot_interval_longer_than_the_duration_leaves_gaps_between_slots(world: World) -> None:
    specialist = utc_specialist(world, [{"day": 0, "start": "09:00", "end": "13:00"}])
    hour_every_ninety = service(world, specialist, duration_minutes=60, slot_interval_minutes=90)

    assert world.offered(hour_every_ninety, MONDAY, MONDAY) == z(MONDAY, "09:00", "10:30", "12:00")
    assert booking_code(world, hour_every_ninety, z(MONDAY, "10:00")[0], 422) == (
        "outside_availability"
    )


def test_stepping_restarts_after_a_booking_at_its_end_plus_before_buffer_rounded_to_5_minutes(
    world: World,
) -> None:
    specialist = utc_specialist(world)
    # A 50 minute session on the hour: booked at 10:00 it ends at 10:50.
    fifty = service(world, specialist, duration_minutes=50, slot_interval_minutes=60)
    plain = service(world, specialist)
    padded = service(world, specialist, buffer_before_minutes=7)
    world.catalog.booked(fifty, z(MONDAY, "10:00")[0])

    # No before-buffer: the next start is 10:50 itself, and stepping goes on from there
    # (anchored to the restart, not snapped back to the hour).
    assert world.offered(plain, MONDAY, MONDAY) == z(
        MONDAY, "09:00", "10:50", "11:50", "12:50", "13:50", "14:50", "15:50"
    )
    # A 7 minute before-buffer: 10:57, rounded up to 11:00.
    assert world.offered(padded, MONDAY, MONDAY) == z(MONDAY, "09:00", *hours(11, 16))
    # The booking side agrees start by start.
    assert booking_code(world, padded, z(MONDAY, "10:55")[0], 409) == "slot_unavailable"
    assert booking_code(world, plain, z(MONDAY, "11:00")[0], 422) == "outside_availability"
    expect(world.catalog.book(plain, z(MONDAY, "10:50")[0]), 201)


def test_a_restart_after_a_booking_ending_off_the_five_minute_grid_rounds_up(
    world: World,
) -> None:
    specialist = utc_specialist(world, [{"day": 0, "start": "09:00", "end": "13:00"}])
    # 52 minutes from 09:00 ends at 09:52: the next start for a plain service is 09:55.
    odd = service(world, specialist, duration_minutes=52, slot_interval_minutes=60)
    half = service(world, specialist, duration_minutes=30)
    world.catalog.booked(odd, z(MONDAY, "09:00")[0])

    assert world.offered(half, MONDAY, MONDAY) == z(
        MONDAY, "09:55", "10:25", "10:55", "11:25", "11:55", "12:25"
    )
    assert booking_code(world, half, z(MONDAY, "09:52")[0], 422) == "outside_availability"


# --- booking states -----------------------------------------------------------------------------


def test_a_pending_booking_blocks_its_slot_and_a_declined_one_gives_it_back(world: World) -> None:
    specialist = utc_specialist(world)
    approval = service(world, specialist, requires_approval=True)
    pending = world.catalog.booked(approval, z(MONDAY, "10:00")[0])
    assert pending["status"] == "pending"

    assert world.offered(approval, MONDAY, MONDAY) == z(MONDAY, "09:00", *hours(11, 16))
    assert booking_code(world, approval, z(MONDAY, "10:00")[0], 409) == "slot_unavailable"

    declined = expect(
        world.booking.post(f"/v1/bookings/{pending['id']}/decline", headers=ADMIN), 200
    )
    assert declined["status"] == "declined"

    assert world.offered(approval, MONDAY, MONDAY) == z(MONDAY, *hours(9, 16))
    assert expect(world.catalog.book(approval, z(MONDAY, "10:00")[0]), 201)["status"] == "pending"


def test_an_approved_booking_keeps_its_slot(world: World) -> None:
    specialist = utc_specialist(world)
    approval = service(world, specialist, requires_approval=True)
    pending = world.catalog.booked(approval, z(MONDAY, "10:00")[0])

    approved = expect(
        world.booking.post(f"/v1/bookings/{pending['id']}/approve", headers=ADMIN), 200
    )

    assert approved["status"] == "confirmed"
    assert world.offered(approval, MONDAY, MONDAY) == z(MONDAY, "09:00", *hours(11, 16))


def test_a_cancelled_booking_gives_its_slot_back(world: World) -> None:
    specialist = utc_specialist(world)
    hour = service(world, specialist, buffer_after_minutes=30)
    booking = world.catalog.booked(hour, z(MONDAY, "10:00")[0])
    # Busy 10:00-11:30: 09:00 (padded to 10:30) clashes too; restart at 11:30.
    assert world.offered(hour, MONDAY, MONDAY) == z(
        MONDAY, "11:30", "12:30", "13:30", "14:30", "15:30"
    )

    cancel = world.booking.post(
        f"/v1/bookings/{booking['id']}/cancel", headers=bearer(booking["manage_token"])
    )
    assert expect(cancel, 200)["status"] == "cancelled"

    # 16:00 + 30 minutes after-buffer reaches past 17:00, which is allowed: buffers may.
    assert world.offered(hour, MONDAY, MONDAY) == z(MONDAY, *hours(9, 16))
    # Cancelling again changes nothing.
    again = world.booking.post(
        f"/v1/bookings/{booking['id']}/cancel", headers=bearer(booking["manage_token"])
    )
    assert expect(again, 200)["status"] == "cancelled"
    assert world.offered(hour, MONDAY, MONDAY) == z(MONDAY, *hours(9, 16))


def test_a_rescheduled_booking_frees_its_old_slot_and_takes_the_new_one(world: World) -> None:
    specialist = utc_specialist(world)
    hour = service(world, specialist)
    booking = world.catalog.booked(hour, z(MONDAY, "10:00")[0])

    moved = world.booking.post(
        f"/v1/bookings/{booking['id']}/reschedule",
        json={"starts_at": z(MONDAY, "14:00")[0]},
        headers=bearer(booking["manage_token"]),
    )

    assert expect(moved, 200)["starts_at"] == z(MONDAY, "14:00")[0]
    assert world.offered(hour, MONDAY, MONDAY) == z(MONDAY, *hours(9, 13), "15:00", "16:00")
    expect(world.catalog.book(hour, z(MONDAY, "10:00")[0]), 201)
    assert booking_code(world, hour, z(MONDAY, "14:00")[0], 409) == "slot_unavailable"


def test_a_booking_can_be_rescheduled_onto_time_that_overlaps_its_own_old_slot(
    world: World,
) -> None:
    specialist = utc_specialist(world, [{"day": 0, "start": "09:00", "end": "13:00"}])
    half_hourly = service(world, specialist, slot_interval_minutes=30)
    booking = world.catalog.booked(half_hourly, z(MONDAY, "10:00")[0])

    moved = world.booking.post(
        f"/v1/bookings/{booking['id']}/reschedule",
        json={"starts_at": z(MONDAY, "10:30")[0]},
        headers=bearer(booking["manage_token"]),
    )

    assert expect(moved, 200)["starts_at"] == z(MONDAY, "10:30")[0]
    # Busy 10:30-11:30 now: 09:30 ends as it starts; 10:00 clashes, restart at 11:30.
    assert world.offered(half_hourly, MONDAY, MONDAY) == z(
        MONDAY, "09:00", "09:30", "11:30", "12:00"
    )
