"""Which iCalendar events are busy time, and exactly when (the CalDAV provider's reading).

The rules every provider follows (kairos.providers.calendar): only busy time blocks,
so TRANSP:TRANSPARENT events, STATUS:CANCELLED events or instances, and invitations
the owner declined do not; recurrences block exactly their occurrences, with their
exceptions (RECURRENCE-ID overrides, EXDATE) applied by recurring-ical-events; an
all-day event blocks its whole local days in the specialist's zone, and a floating
time is read in that zone too. Events Kairos itself wrote (OWN_UID_PREFIX) are the
bookings, which already block their slots: they are not external busy time.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import recurring_ical_events
from icalendar import Calendar

from kairos.providers.calendar import BusyTime
from kairos.timezones import local_to_utc

#: The UID (CalDAV), id (Google) or transactionId (Graph) prefix of the events Kairos writes.
OWN_UID_PREFIX = "kairos"

#: An all-day event's local day may start before `start` in UTC terms, and a server
#: reads floating times and dates as UTC: events are read and expanded this far beyond
#: the range, and cut to it exactly here.
MARGIN = timedelta(days=1)


def widened(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    return start - MARGIN, end + MARGIN


def _instant(value: date | datetime, tz: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=tz)).astimezone(UTC)
    return local_to_utc(value, 0, tz)


def _declined_by(component: Any, owners: frozenset[str]) -> bool:
    attendees = component.get("ATTENDEE", [])
    if not isinstance(attendees, list):
        attendees = [attendees]
    for attendee in attendees:
        address = str(attendee).lower().removeprefix("mailto:")
        if address in owners and str(attendee.params.get("PARTSTAT", "")).upper() == "DECLINED":
            return True
    return False


def is_busy(component: Any, owners: frozenset[str] = frozenset()) -> bool:
    """Whether one (expanded) VEVENT blocks time for its owner."""
    if str(component.get("UID", "")).startswith(OWN_UID_PREFIX):
        return False
    if str(component.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT":
        return False
    if str(component.get("STATUS", "")).upper() == "CANCELLED":
        return False
    return not _declined_by(component, owners)


def _span(component: Any, tz: ZoneInfo) -> BusyTime | None:
    start = component.decoded("DTSTART")
    if "DTEND" in component:
        end = component.decoded("DTEND")
    elif "DURATION" in component:
        end = start + component.decoded("DURATION")
    else:  # RFC 5545: a day without DTEND lasts one day; an instant, no time at all
        end = start + timedelta(days=1) if not isinstance(start, datetime) else start
    interval = BusyTime(_instant(start, tz), _instant(end, tz))
    return interval if interval.starts_at < interval.ends_at else None


def busy_times(
    calendars: Iterable[str | bytes],
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    owners: frozenset[str] = frozenset(),
) -> list[BusyTime]:
    """The busy time in iCalendar objects (one resource each) overlapping [start, end),
    sorted. `owners` are the account's addresses, to tell its declined invitations."""
    found: list[BusyTime] = []
    window = widened(start, end)
    for text in calendars:
        calendar = Calendar.from_ical(text)
        for component in recurring_ical_events.of(calendar).between(*window):
            if component.name != "VEVENT" or not is_busy(component, owners):
                continue
            span = _span(component, tz)
            if span is not None and span.starts_at < end and start < span.ends_at:
                found.append(span)
    return sorted(found, key=lambda b: (b.starts_at, b.ends_at))
