"""Local wall time ↔ UTC with the DST rules of ARCHITECTURE.md rule 5 (RFC 5545 §3.3.5)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from kairos.timezones import (
    UnknownTimezone,
    format_hhmm,
    iso_utc,
    local_date,
    local_to_utc,
    parse_hhmm,
    zone,
)

pytestmark = pytest.mark.unit

NEW_YORK = zone("America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_a_wall_time_in_the_spring_gap_moves_forward_by_the_gap() -> None:
    # 02:30 does not exist on 2026-03-08 in New York (02:00 EST → 03:00 EDT):
    # it is read with the offset before the gap, i.e. it becomes 03:30 EDT.
    instant = local_to_utc(date(2026, 3, 8), 2 * 60 + 30, NEW_YORK)

    assert instant == utc(2026, 3, 8, 7, 30)
    assert instant.astimezone(NEW_YORK).strftime("%H:%M %Z") == "03:30 EDT"


def test_an_ambiguous_wall_time_in_the_autumn_overlap_means_its_first_occurrence() -> None:
    # 01:30 happens twice on 2026-11-01 in New York: at 05:30Z (EDT) and 06:30Z (EST).
    instant = local_to_utc(date(2026, 11, 1), 1 * 60 + 30, NEW_YORK)

    assert instant == utc(2026, 11, 1, 5, 30)
    assert instant.astimezone(NEW_YORK).strftime("%H:%M %Z") == "01:30 EDT"


@pytest.mark.parametrize(
    ("day", "minute", "expected"),
    [
        (date(2026, 3, 7), 9 * 60, utc(2026, 3, 7, 14)),  # EST, before spring forward
        (date(2026, 3, 9), 9 * 60, utc(2026, 3, 9, 13)),  # EDT, the Monday after
        (date(2026, 10, 31), 9 * 60, utc(2026, 10, 31, 13)),  # EDT, before fall back
        (date(2026, 11, 2), 9 * 60, utc(2026, 11, 2, 14)),  # EST, the Monday after
        (date(2026, 3, 8), 3 * 60, utc(2026, 3, 8, 7)),  # the first minute after the gap
        (date(2026, 11, 1), 2 * 60, utc(2026, 11, 1, 7)),  # after the repeated hour: EST
    ],
)
def test_ordinary_wall_times_around_the_transitions_use_the_offset_in_force(
    day: date, minute: int, expected: datetime
) -> None:
    assert local_to_utc(day, minute, NEW_YORK) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Asia/Kolkata", utc(2026, 3, 9, 3, 30)),  # +05:30
        ("Asia/Kathmandu", utc(2026, 3, 9, 3, 15)),  # +05:45
        ("UTC", utc(2026, 3, 9, 9)),
        ("Pacific/Chatham", utc(2026, 3, 8, 19, 15)),  # +13:45 in southern summer
    ],
)
def test_zones_with_fractional_offsets_map_nine_local_to_the_right_instant(
    name: str, expected: datetime
) -> None:
    assert local_to_utc(date(2026, 3, 9), 9 * 60, zone(name)) == expected


def test_the_end_of_the_day_24_00_is_the_next_midnight() -> None:
    assert local_to_utc(date(2026, 3, 9), 24 * 60, NEW_YORK) == utc(2026, 3, 10, 4)


def test_24_00_on_the_eve_of_the_spring_gap_is_still_the_next_local_midnight() -> None:
    assert local_to_utc(date(2026, 3, 7), 24 * 60, NEW_YORK) == utc(2026, 3, 8, 5)


def test_the_local_date_of_an_instant_is_read_in_the_zone() -> None:
    late_evening_in_new_york = utc(2026, 3, 10, 3, 59)
    assert local_date(late_evening_in_new_york, NEW_YORK) == date(2026, 3, 9)
    assert local_date(late_evening_in_new_york, zone("Asia/Kathmandu")) == date(2026, 3, 10)


@pytest.mark.parametrize(
    "name",
    [
        "Mars/Olympus_Mons",
        "",
        "america/new_york",
        "America/New_York ",
        "America",
        "/etc/passwd",
        "/usr/share/zoneinfo/UTC",
        "../../../../etc/passwd",
        "./UTC",
        "America/../Europe/Berlin",
        "Europe/Berlin/..",
        "etc/passwd",
        "zone.tab",
        "UTC\x00",
        "A" * 300,
    ],
)
def test_unknown_and_path_like_zone_names_raise_unknown_timezone(name: str) -> None:
    with pytest.raises(UnknownTimezone) as raised:
        zone(name)
    assert raised.value.name == name


def test_unknown_timezone_is_a_value_error_so_validators_turn_it_into_a_422() -> None:
    assert issubclass(UnknownTimezone, ValueError)


@pytest.mark.parametrize(
    ("text", "minutes"), [("00:00", 0), ("09:05", 545), ("23:59", 1439), ("24:00", 1440)]
)
def test_wall_times_parse_to_minutes_and_back(text: str, minutes: int) -> None:
    assert parse_hhmm(text) == minutes
    assert format_hhmm(minutes) == text


@pytest.mark.parametrize("text", ["9:00", "09:60", "24:01", "25:00", "0900", "09:0a", "", "-1:00"])
def test_malformed_wall_times_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_hhmm(text)


def test_instants_are_written_in_utc_with_a_z() -> None:
    berlin_noon = datetime(2026, 7, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    assert iso_utc(berlin_noon) == "2026-07-01T10:00:00Z"
