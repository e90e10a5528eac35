"""Time zones in GET /v1/slots and in booking: viewers ahead of and behind the specialist,
half-hour and 45-minute zones, and the 2026 DST transitions of New York, London and Sydney.

ARCHITECTURE.md rule 5: schedules are local wall times of the specialist's zone; a local
time inside a DST gap moves forward by the gap, an ambiguous one means its first
occurrence. The viewer's `from`/`to` dates are read in the viewer's zone, and every
`local_start` carries the viewer's offset at that instant.

The 2026 transitions used here (local wall times):
- America/New_York: 2026-03-08 02:00 EST → 03:00 EDT; 2026-11-01 02:00 EDT → 01:00 EST.
- Europe/London: 2026-03-29 01:00 GMT → 02:00 BST; 2026-10-25 02:00 BST → 01:00 GMT.
- Australia/Sydney: 2026-04-05 03:00 AEDT → 02:00 AEST; 2026-10-04 02:00 AEST → 03:00 AEDT.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.availability.conftest import World
from tests.booking.helpers import ALL_DAY_EVERY_DAY, error_code, expect

pytestmark = pytest.mark.integration


@pytest.fixture
def world(shared_world: World) -> World:
    return shared_world


NINE_TO_FIVE_WEEKDAYS = [{"day": d, "start": "09:00", "end": "17:00"} for d in range(5)]


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def z(text: str) -> str:
    """'2026-03-09 09:00' → '2026-03-09T09:00:00Z'."""
    return text.replace(" ", "T") + ":00Z"


def hourly(first: str, count: int) -> list[str]:
    """`count` UTC instants an hour apart from `first` ("YYYY-MM-DD HH:MM"), API-style."""
    start = instant(z(first))
    return [(start + timedelta(hours=k)).isoformat().replace("+00:00", "Z") for k in range(count)]


def slots(
    world: World, service_id: str, first: str, last: str, timezone: str | None = None
) -> list[dict[str, Any]]:
    world.sync()
    body = expect(world.slots(service_id, first, last, timezone), 200)
    result: list[dict[str, Any]] = body["slots"]
    return result


def local_starts(
    world: World, service_id: str, first: str, last: str, timezone: str | None = None
) -> list[str]:
    return [s["local_start"] for s in slots(world, service_id, first, last, timezone)]


def hour_service(world: World, timezone: str, weekly: list[dict[str, Any]], **fields: Any) -> str:
    sp = world.catalog.specialist(timezone, weekly=weekly)
    return str(world.catalog.service(sp["id"], **fields)["id"])


# --- viewers in other zones -------------------------------------------------------------------


def test_a_viewer_ahead_of_the_specialist_sees_the_same_slots_under_later_dates(
    world: World,
) -> None:
    # London is on GMT (UTC+0) until 29 March: Monday's slots are 09:00Z..16:00Z.
    # Tokyo (UTC+9) days run from 15:00Z to 15:00Z, so Tokyo's Monday ends after London's
    # 14:00 slot and London's 15:00 and 16:00 fall on Tokyo's Tuesday, ahead of Tuesday's.
    hour = hour_service(world, "Europe/London", NINE_TO_FIVE_WEEKDAYS)

    tokyo_monday = slots(world, hour, "2026-03-09", "2026-03-09", "Asia/Tokyo")
    tokyo_tuesday = slots(world, hour, "2026-03-10", "2026-03-10", "Asia/Tokyo")

    assert [s["start"] for s in tokyo_monday] == hourly("2026-03-09 09:00", 6)
    assert [s["start"] for s in tokyo_tuesday] == (
        hourly("2026-03-09 15:00", 2) + hourly("2026-03-10 09:00", 6)
    )
    assert tokyo_monday[0]["local_start"] == "2026-03-09T18:00:00+09:00"
    assert tokyo_tuesday[0]["local_start"] == "2026-03-10T00:00:00+09:00"
    assert tokyo_tuesday[-1]["local_start"] == "2026-03-10T23:00:00+09:00"
    body = expect(world.slots(hour, "2026-03-09", "2026-03-09", "Asia/Tokyo"), 200)
    assert body["timezone"] == "Asia/Tokyo"


def test_a_viewer_behind_the_specialist_sees_the_same_slots_under_earlier_dates(
    world: World,
) -> None:
    # Honolulu (UTC-10, no DST) days run from 10:00Z to 10:00Z: London's Monday 09:00
    # is Sunday 23:00 in Honolulu, and London's Tuesday 09:00 closes Honolulu's Monday.
    hour = hour_service(world, "Europe/London", NINE_TO_FIVE_WEEKDAYS)

    sunday = slots(world, hour, "2026-03-08", "2026-03-08", "Pacific/Honolulu")
    monday = slots(world, hour, "2026-03-09", "2026-03-09", "Pacific/Honolulu")

    assert [s["start"] for s in sunday] == hourly("2026-03-09 09:00", 1)
    assert sunday[0]["local_start"] == "2026-03-08T23:00:00-10:00"
    assert [s["start"] for s in monday] == (
        hourly("2026-03-09 10:00", 7) + hourly("2026-03-10 09:00", 1)
    )
    assert [s["local_start"] for s in monday] == [
        f"2026-03-09T{h:02d}:00:00-10:00" for h in range(0, 7)
    ] + ["2026-03-09T23:00:00-10:00"]


def test_every_viewer_sees_one_slot_at_one_instant_with_their_own_offset(world: World) -> None:
    hour = hour_service(world, "Europe/London", NINE_TO_FIVE_WEEKDAYS)
    monday_nine = "2026-03-09T09:00:00Z"

    seen = {}
    for viewer, day in (
        ("Europe/London", "2026-03-09"),
        ("Asia/Tokyo", "2026-03-09"),
        ("Pacific/Honolulu", "2026-03-08"),
        ("America/New_York", "2026-03-09"),  # EDT (UTC-4) since 8 March
        ("Asia/Kolkata", "2026-03-09"),
        ("Asia/Kathmandu", "2026-03-09"),
    ):
        (slot,) = [s for s in slots(world, hour, day, day, viewer) if s["start"] == monday_nine]
        seen[viewer] = slot["local_start"]
        assert slot["end"] == "2026-03-09T10:00:00Z"

    assert seen == {
        "Europe/London": "2026-03-09T09:00:00+00:00",
        "Asia/Tokyo": "2026-03-09T18:00:00+09:00",
        "Pacific/Honolulu": "2026-03-08T23:00:00-10:00",
        "America/New_York": "2026-03-09T05:00:00-04:00",
        "Asia/Kolkata": "2026-03-09T14:30:00+05:30",
        "Asia/Kathmandu": "2026-03-09T14:45:00+05:45",
    }


def test_a_range_of_several_days_is_cut_at_the_viewers_midnights(world: World) -> None:
    # A specialist open all day in UTC, read by a viewer in Kolkata (UTC+05:30): the
    # viewer's 9-10 March runs from 8 March 18:30Z to 10 March 18:30Z, so it holds the
    # 48 hourly slots from 19:00Z on the 8th to 18:00Z on the 10th.
    hour = hour_service(world, "UTC", ALL_DAY_EVERY_DAY)

    seen = slots(world, hour, "2026-03-09", "2026-03-10", "Asia/Kolkata")

    assert [s["start"] for s in seen] == hourly("2026-03-08 19:00", 48)
    assert seen[0]["local_start"] == "2026-03-09T00:30:00+05:30"
    assert seen[-1]["local_start"] == "2026-03-10T23:30:00+05:30"


# --- half-hour and 45-minute specialists -------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "first", "offset"),
    [
        ("Asia/Kolkata", "2026-03-09 03:30", "+05:30"),
        ("Asia/Kathmandu", "2026-03-09 03:15", "+05:45"),
    ],
)
def test_a_specialist_in_a_half_or_quarter_hour_zone_works_local_hours(
    world: World, zone: str, first: str, offset: str
) -> None:
    hour = hour_service(world, zone, NINE_TO_FIVE_WEEKDAYS)

    seen = slots(world, hour, "2026-03-09", "2026-03-09")

    # 09:00..16:00 local, on the local hour, which is at :30 or :15 past the UTC hour.
    assert [s["start"] for s in seen] == hourly(first, 8)
    assert [s["local_start"] for s in seen] == [
        f"2026-03-09T{h:02d}:00:00{offset}" for h in range(9, 17)
    ]
    in_utc = slots(world, hour, "2026-03-09", "2026-03-09", "UTC")
    assert in_utc[0]["local_start"] == z(first).replace("Z", "+00:00")
    # The booking side reads the same wall times: 09:00 local is bookable, 09:00Z is not.
    assert expect(world.catalog.book(hour, z(first)), 201)["status"] == "confirmed"
    assert error_code(world.catalog.book(hour, "2026-03-09T09:00:00Z"), 422) == (
        "outside_availability"
    )


def test_a_restart_after_a_booking_in_a_45_minute_zone_lands_on_local_five_minutes(
    world: World,
) -> None:
    # Kathmandu, UTC+05:45. A 50 minute session at 10:00 local ends at 10:50 local; a service
    # with a 7 minute before-buffer restarts at 10:57, rounded up to 11:00 local (05:15Z).
    sp = world.catalog.specialist(
        "Asia/Kathmandu", weekly=[{"day": 0, "start": "09:00", "end": "13:00"}]
    )
    fifty = world.catalog.service(sp["id"], duration_minutes=50, slot_interval_minutes=60)
    padded = world.catalog.service(sp["id"], buffer_before_minutes=7)
    world.catalog.booked(fifty["id"], "2026-03-09T04:15:00Z")

    assert local_starts(world, padded["id"], "2026-03-09", "2026-03-09") == [
        "2026-03-09T09:00:00+05:45",
        "2026-03-09T11:00:00+05:45",
        "2026-03-09T12:00:00+05:45",
    ]


# --- 23- and 25-hour days -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "day", "first_utc", "count"),
    [
        ("America/New_York", "2026-03-08", "2026-03-08 05:00", 23),  # 00:00 EST
        ("America/New_York", "2026-11-01", "2026-11-01 04:00", 25),  # 00:00 EDT
        ("Europe/London", "2026-03-29", "2026-03-29 00:00", 23),  # 00:00 GMT
        ("Europe/London", "2026-10-25", "2026-10-24 23:00", 25),  # 00:00 BST
        ("Australia/Sydney", "2026-10-04", "2026-10-03 14:00", 23),  # 00:00 AEST
        ("Australia/Sydney", "2026-04-05", "2026-04-04 13:00", 25),  # 00:00 AEDT
    ],
)
def test_an_all_day_window_on_a_dst_transition_day_offers_an_hour_fewer_or_more(
    world: World, zone: str, day: str, first_utc: str, count: int
) -> None:
    world.clock.now = instant(f"{day}T00:00:00Z") - timedelta(days=7)
    hour = hour_service(world, zone, ALL_DAY_EVERY_DAY)

    assert world.offered(hour, day, day) == hourly(first_utc, count)
    # The days either side have 24.
    before = (instant(f"{day}T00:00:00Z") - timedelta(days=1)).date().isoformat()
    after = (instant(f"{day}T00:00:00Z") + timedelta(days=1)).date().isoformat()
    assert len(world.offered(hour, before, before)) == 24
    assert len(world.offered(hour, after, after)) == 24


def test_local_starts_of_a_spring_forward_day_skip_the_missing_hour(world: World) -> None:
    hour = hour_service(world, "America/New_York", ALL_DAY_EVERY_DAY)

    assert local_starts(world, hour, "2026-03-08", "2026-03-08") == [
        "2026-03-08T00:00:00-05:00",
        "2026-03-08T01:00:00-05:00",
    ] + [f"2026-03-08T{h:02d}:00:00-04:00" for h in range(3, 24)]


def test_local_starts_of_a_fall_back_day_show_the_repeated_hour_twice(world: World) -> None:
    world.clock.now = instant("2026-10-20T00:00:00Z")
    hour = hour_service(world, "America/New_York", ALL_DAY_EVERY_DAY)

    assert local_starts(world, hour, "2026-11-01", "2026-11-01") == [
        "2026-11-01T00:00:00-04:00",
        "2026-11-01T01:00:00-04:00",
        "2026-11-01T01:00:00-05:00",
    ] + [f"2026-11-01T{h:02d}:00:00-05:00" for h in range(2, 24)]


def test_sydneys_repeated_hour_in_april_appears_with_both_offsets(world: World) -> None:
    hour = hour_service(world, "Australia/Sydney", ALL_DAY_EVERY_DAY)

    seen = local_starts(world, hour, "2026-04-05", "2026-04-05")

    assert seen[:5] == [
        "2026-04-05T00:00:00+11:00",
        "2026-04-05T01:00:00+11:00",
        "2026-04-05T02:00:00+11:00",
        "2026-04-05T02:00:00+10:00",
        "2026-04-05T03:00:00+10:00",
    ]
    assert seen[-1] == "2026-04-05T23:00:00+10:00"


def test_a_viewers_own_spring_forward_day_is_23_hours_long(world: World) -> None:
    # The specialist works all day in UTC and has no transition; the viewer in New York
    # does: their 8 March runs from 05:00Z to 04:00Z the next day.
    hour = hour_service(world, "UTC", ALL_DAY_EVERY_DAY)

    assert world.offered(hour, "2026-03-08", "2026-03-08", "America/New_York") == hourly(
        "2026-03-08 05:00", 23
    )
    assert world.offered(hour, "2026-03-07", "2026-03-07", "America/New_York") == hourly(
        "2026-03-07 05:00", 24
    )


# --- the missing and the repeated hour in a schedule ---------------------------------------------


@pytest.mark.parametrize(
    ("zone", "day", "offered", "local"),
    [
        # New York: 02:30 on 8 March does not exist; it means 03:30 EDT (07:30Z). The
        # window ends 06:00 EDT (10:00Z): 03:30 and 04:30 local fit, 05:30 does not.
        (
            "America/New_York",
            "2026-03-08",
            ["2026-03-08T07:30:00Z", "2026-03-08T08:30:00Z"],
            ["2026-03-08T03:30:00-04:00", "2026-03-08T04:30:00-04:00"],
        ),
        # London: 01:30 on 29 March does not exist; it means 02:30 BST (01:30Z). With the
        # window's end, 05:00 BST (04:00Z), 02:30 and 03:30 local fit.
        (
            "Europe/London",
            "2026-03-29",
            ["2026-03-29T01:30:00Z", "2026-03-29T02:30:00Z"],
            ["2026-03-29T02:30:00+01:00", "2026-03-29T03:30:00+01:00"],
        ),
    ],
)
def test_a_window_starting_in_the_dst_gap_starts_after_it_for_slots_and_bookings_alike(
    world: World, zone: str, day: str, offered: list[str], local: list[str]
) -> None:
    start, end = ("02:30", "06:00") if zone == "America/New_York" else ("01:30", "05:00")
    sunday = [{"day": 6, "start": start, "end": end}]
    hour = hour_service(world, zone, sunday)

    assert world.offered(hour, day, day) == offered
    assert local_starts(world, hour, day, day) == local
    # The booking side reads the window the same way: the hour before the first offered
    # start (the gap read with the later offset) is outside availability.
    too_early = (instant(offered[0]) - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert error_code(world.catalog.book(hour, too_early), 422) == "outside_availability"
    assert expect(world.catalog.book(hour, offered[0]), 201)["starts_at"] == offered[0]
    # A week later the same window is an ordinary one, an hour earlier in UTC for London's
    # and New York's summer offsets alike.
    next_week = (instant(f"{day}T00:00:00Z") + timedelta(days=7)).date().isoformat()
    assert world.offered(hour, next_week, next_week)[0] == (
        (instant(offered[0]) + timedelta(days=7) - timedelta(hours=1))
        .isoformat()
        .replace("+00:00", "Z")
    )


def test_a_window_ending_in_the_dst_gap_ends_after_it(world: World) -> None:
    # New York, 8 March, 00:00-02:30: the end does not exist and means 03:30 EDT (07:30Z),
    # so the window holds two and a half real hours, and a 30 minute slot at 03:00 EDT.
    half_hour = hour_service(
        world,
        "America/New_York",
        [{"day": 6, "start": "00:00", "end": "02:30"}],
        duration_minutes=30,
    )

    assert local_starts(world, half_hour, "2026-03-08", "2026-03-08") == [
        "2026-03-08T00:00:00-05:00",
        "2026-03-08T00:30:00-05:00",
        "2026-03-08T01:00:00-05:00",
        "2026-03-08T01:30:00-05:00",
        "2026-03-08T03:00:00-04:00",
    ]
    assert expect(world.catalog.book(half_hour, "2026-03-08T07:00:00Z"), 201)["ends_at"] == (
        "2026-03-08T07:30:00Z"
    )


@pytest.mark.parametrize(
    ("zone", "day", "offered", "local"),
    [
        # New York: 01:30 on 1 November happens twice; it means the first, 01:30 EDT
        # (05:30Z). The window ends 03:00 EST (08:00Z): 2.5 real hours hold two slots,
        # both at 01:30 local, an hour apart.
        (
            "America/New_York",
            "2026-11-01",
            ["2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z"],
            ["2026-11-01T01:30:00-04:00", "2026-11-01T01:30:00-05:00"],
        ),
        # London: 01:30 on 25 October happens twice; the first is 01:30 BST (00:30Z).
        (
            "Europe/London",
            "2026-10-25",
            ["2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z"],
            ["2026-10-25T01:30:00+01:00", "2026-10-25T01:30:00+00:00"],
        ),
    ],
)
def test_a_window_starting_in_the_repeated_hour_starts_at_its_first_occurrence(
    world: World, zone: str, day: str, offered: list[str], local: list[str]
) -> None:
    world.clock.now = instant(f"{day}T00:00:00Z") - timedelta(days=7)
    hour = hour_service(world, zone, [{"day": 6, "start": "01:30", "end": "03:00"}])

    assert world.offered(hour, day, day) == offered
    assert local_starts(world, hour, day, day) == local
    assert expect(world.catalog.book(hour, offered[1]), 201)["starts_at"] == offered[1]
    # The first occurrence is still offered; an hour before it is not.
    assert world.offered(hour, day, day) == offered[:1]
    too_early = (instant(offered[0]) - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert error_code(world.catalog.book(hour, too_early), 422) == "outside_availability"


# --- offsets either side of a transition ---------------------------------------------------------


def test_local_start_carries_the_offset_in_force_on_each_side_of_new_yorks_spring_forward(
    world: World,
) -> None:
    hour = hour_service(world, "America/New_York", NINE_TO_FIVE_WEEKDAYS)

    seen = slots(world, hour, "2026-03-06", "2026-03-09")

    friday = [s for s in seen if s["local_start"].startswith("2026-03-06")]
    monday = [s for s in seen if s["local_start"].startswith("2026-03-09")]
    assert len(seen) == len(friday) + len(monday) == 16
    assert (friday[0]["start"], friday[0]["local_start"]) == (
        "2026-03-06T14:00:00Z",
        "2026-03-06T09:00:00-05:00",
    )
    assert (monday[0]["start"], monday[0]["local_start"]) == (
        "2026-03-09T13:00:00Z",
        "2026-03-09T09:00:00-04:00",
    )


def test_local_start_carries_the_offset_in_force_on_each_side_of_new_yorks_fall_back(
    world: World,
) -> None:
    world.clock.now = instant("2026-10-26T00:00:00Z")
    hour = hour_service(world, "America/New_York", NINE_TO_FIVE_WEEKDAYS)

    seen = slots(world, hour, "2026-10-30", "2026-11-02")

    assert [s["start"] for s in seen] == hourly("2026-10-30 13:00", 8) + hourly(
        "2026-11-02 14:00", 8
    )
    assert seen[0]["local_start"] == "2026-10-30T09:00:00-04:00"
    assert seen[8]["local_start"] == "2026-11-02T09:00:00-05:00"


def test_a_london_viewer_of_a_new_york_specialist_sees_each_side_change_its_clocks(
    world: World,
) -> None:
    # New York is on EDT from 8 March, London on GMT until 29 March: for three weeks the
    # two are four hours apart, then five again. 09:00 in New York is 13:00Z throughout.
    hour = hour_service(world, "America/New_York", NINE_TO_FIVE_WEEKDAYS)

    def first_local(day: str) -> str:
        return local_starts(world, hour, day, day, "Europe/London")[0]

    assert first_local("2026-03-06") == "2026-03-06T14:00:00+00:00"  # EST, GMT
    assert first_local("2026-03-27") == "2026-03-27T13:00:00+00:00"  # EDT, GMT
    assert first_local("2026-03-30") == "2026-03-30T14:00:00+01:00"  # EDT, BST


def test_a_specialist_in_the_southern_hemisphere_gains_an_hour_in_october(
    world: World,
) -> None:
    # Sydney is on AEST (UTC+10) in winter and AEDT (UTC+11) from 4 October: 09:00 local
    # is 23:00Z the day before on Friday 2 October and 22:00Z on Monday 5 October.
    world.clock.now = instant("2026-09-25T00:00:00Z")
    hour = hour_service(world, "Australia/Sydney", NINE_TO_FIVE_WEEKDAYS)

    seen = slots(world, hour, "2026-10-02", "2026-10-05")

    assert [s["start"] for s in seen] == hourly("2026-10-01 23:00", 8) + hourly(
        "2026-10-04 22:00", 8
    )
    assert seen[0]["local_start"] == "2026-10-02T09:00:00+10:00"
    assert seen[8]["local_start"] == "2026-10-05T09:00:00+11:00"
    # A viewer in New York (still EDT, UTC-4) asking for 1-5 October gets [1 Oct 04:00Z,
    # 6 Oct 04:00Z): the tail of Sydney's Thursday, Friday, Monday and most of Tuesday.
    in_new_york = slots(world, hour, "2026-10-01", "2026-10-05", "America/New_York")
    assert [s["start"] for s in in_new_york] == (
        hourly("2026-10-01 04:00", 3)
        + hourly("2026-10-01 23:00", 8)
        + hourly("2026-10-04 22:00", 8)
        + hourly("2026-10-05 22:00", 6)
    )
    local = {s["start"]: s["local_start"] for s in in_new_york}
    assert local["2026-10-01T23:00:00Z"] == "2026-10-01T19:00:00-04:00"
    assert local["2026-10-04T22:00:00Z"] == "2026-10-04T18:00:00-04:00"


def test_a_booking_across_the_fall_back_hour_lasts_its_real_duration(world: World) -> None:
    # An all-night window in New York: a 60 minute slot from 01:00 EDT ends at 01:00 EST,
    # an hour later in real time, and the next slot starts then.
    world.clock.now = instant("2026-10-26T00:00:00Z")
    hour = hour_service(world, "America/New_York", [{"day": 6, "start": "00:00", "end": "04:00"}])
    booked = world.catalog.booked(hour, "2026-11-01T05:00:00Z")

    assert booked["ends_at"] == "2026-11-01T06:00:00Z"
    seen = slots(world, hour, "2026-11-01", "2026-11-01")
    assert [(s["start"], s["local_start"]) for s in seen] == [
        ("2026-11-01T04:00:00Z", "2026-11-01T00:00:00-04:00"),
        ("2026-11-01T06:00:00Z", "2026-11-01T01:00:00-05:00"),
        ("2026-11-01T07:00:00Z", "2026-11-01T02:00:00-05:00"),
        ("2026-11-01T08:00:00Z", "2026-11-01T03:00:00-05:00"),
    ]
    assert all(instant(s["end"]) - instant(s["start"]) == timedelta(hours=1) for s in seen)
