"""Local wall time ↔ UTC, with the DST rules of ARCHITECTURE.md rule 5.

A local time inside a DST gap moves forward by the gap; an ambiguous one means
its first occurrence (RFC 5545 §3.3.5). zoneinfo's `fold=0` does exactly both:
it reads a missing or repeated wall time with the offset in force before the
transition.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from kairos.errors import KairosError

MINUTES_PER_DAY = 24 * 60


class UnknownTimezone(KairosError, ValueError):
    code = "unknown_timezone"
    status = 422

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown IANA time zone: {name!r}", {"timezone": name})
        self.name = name


# Files of the zone database that are not zones: the machine's own zone, a template,
# and a placeholder that means "not set".
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones()) - _NOT_ZONES


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    """The IANA zone called `name`; UnknownTimezone for anything else (paths included)."""
    if name not in _zone_names():
        raise UnknownTimezone(name)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise UnknownTimezone(name) from None


def local_to_utc(day: date, minute_of_day: int, tz: ZoneInfo) -> datetime:
    """The UTC instant of `minute_of_day` (0..1440; 1440 is the next midnight) on `day` in `tz`."""
    if minute_of_day == MINUTES_PER_DAY:
        day, minute_of_day = day + timedelta(days=1), 0
    wall = datetime.combine(day, time(minute_of_day // 60, minute_of_day % 60), tzinfo=tz)
    return wall.astimezone(UTC)


def local_date(instant: datetime, tz: ZoneInfo) -> date:
    return instant.astimezone(tz).date()


def parse_hhmm(text: str) -> int:
    """'HH:MM' (00:00..24:00) → minutes since midnight; ValueError otherwise."""
    hours, sep, minutes = text.partition(":")
    if not (
        sep and len(hours) == 2 and len(minutes) == 2 and hours.isdigit() and minutes.isdigit()
    ):
        raise ValueError(f"expected HH:MM, got {text!r}")
    value = int(hours) * 60 + int(minutes)
    if int(minutes) >= 60 or value > MINUTES_PER_DAY:
        raise ValueError(f"not a time of day: {text!r}")
    return value


def format_hhmm(minute_of_day: int) -> str:
    return f"{minute_of_day // 60:02d}:{minute_of_day % 60:02d}"


def iso_utc(instant: datetime) -> str:
    """The API's instant format: UTC with a Z."""
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")
