"""A specialist's own meetings in their CalDAV calendar block their slots, and the booking
side agrees: a request for such a time is refused. Only busy time blocks; all-day,
multi-day and recurring events (with exceptions) block exactly their time."""

from __future__ import annotations

import io
from typing import Any
from uuid import uuid4

from availability.replay import replay_availability
from kairos.settings import TopicSettings
from tests.booking.helpers import ADMIN, error_code, expect
from tests.calendar_sync.conftest import CalendarWorld

MONDAY = "2026-03-09"
# Europe/Berlin is UTC+1 in March: 09:00-17:00 local is 08:00-16:00 UTC.
MONDAY_SLOTS = [f"2026-03-09T{h:02d}:00:00Z" for h in range(8, 16)]


def ics(*vevents: str) -> str:
    body = "".join(
        f"BEGIN:VEVENT\r\nDTSTAMP:20260301T000000Z\r\n{v.strip()}\r\nEND:VEVENT\r\n"
        for v in vevents
    )
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{body}END:VCALENDAR\r\n"


def event(uid: str, start: str, end: str, *extra: str) -> str:
    lines = [f"UID:{uid}", f"DTSTART;TZID=Europe/Berlin:{start}", f"DTEND;TZID=Europe/Berlin:{end}"]
    return "\r\n".join([*lines, "SUMMARY:own meeting", *extra])


class Specialist:
    def __init__(self, world: CalendarWorld, user: str | None = None) -> None:
        self.world = world
        self.specialist = world.catalog.specialist(timezone="Europe/Berlin")
        self.service = world.catalog.service(self.specialist["id"])
        self.connection = world.connect_caldav(self.specialist["id"], user)
        self.calendar = world.caldav_calendar(self.connection)

    def write(self, text: str) -> None:
        self.calendar.save_event(ical=text)

    def remove(self, uid: str) -> None:
        self.calendar.event_by_uid(uid).delete()

    def offered(self, day: str) -> list[str]:
        self.world.sync_busy()
        return self.world.offered(self.service["id"], day)

    def book(self, start: str) -> Any:
        return self.world.catalog.book(self.service["id"], start)


def test_an_external_meeting_blocks_its_slot_on_both_sides_as_it_moves_and_goes(
    world: CalendarWorld,
) -> None:
    s = Specialist(world)
    assert s.offered(MONDAY) == MONDAY_SLOTS

    s.write(ics(event("meet-1", "20260309T100000", "20260309T110000")))
    assert s.offered(MONDAY) == [t for t in MONDAY_SLOTS if t != "2026-03-09T09:00:00Z"]
    assert error_code(s.book("2026-03-09T09:00:00Z"), 409) == "slot_unavailable"

    s.write(ics(event("meet-1", "20260309T143000", "20260309T150000", "SEQUENCE:1")))
    offered = s.offered(MONDAY)
    assert "2026-03-09T09:00:00Z" in offered and "2026-03-09T13:00:00Z" not in offered
    assert error_code(s.book("2026-03-09T13:00:00Z"), 409) == "slot_unavailable"
    expect(s.book("2026-03-09T09:00:00Z"), 201)

    s.remove("meet-1")
    assert "2026-03-09T13:00:00Z" in s.offered(MONDAY)
    expect(s.book("2026-03-09T13:00:00Z"), 201)


def test_free_cancelled_and_declined_events_block_nothing(world: CalendarWorld) -> None:
    me = f"grey-{uuid4().hex[:6]}@example.org"
    s = Specialist(world, user=me)
    s.write(ics(event("free", "20260309T090000", "20260309T100000", "TRANSP:TRANSPARENT")))
    s.write(ics(event("cancelled", "20260309T100000", "20260309T110000", "STATUS:CANCELLED")))
    invited = ("ORGANIZER:mailto:boss@example.org", "ATTENDEE;PARTSTAT=DECLINED:mailto:" + me)
    s.write(ics(event("declined", "20260309T110000", "20260309T120000", *invited)))
    # A recurring meeting with one instance cancelled: the other instances still block.
    s.write(
        ics(
            event("weekly", "20260302T130000", "20260302T140000", "RRULE:FREQ=WEEKLY;COUNT=3"),
            event(
                "weekly",
                "20260309T130000",
                "20260309T140000",
                "STATUS:CANCELLED",
                "RECURRENCE-ID;TZID=Europe/Berlin:20260309T130000",
            ),
        )
    )
    assert s.offered(MONDAY) == MONDAY_SLOTS
    assert "2026-03-16T12:00:00Z" not in s.offered("2026-03-16")


def test_all_day_multi_day_and_recurring_events_block_exactly_their_time(
    world: CalendarWorld,
) -> None:
    s = Specialist(world)
    # All day on Tuesday: the whole local day.
    s.write(
        ics(
            "UID:all-day\r\nDTSTART;VALUE=DATE:20260310\r\nDTEND;VALUE=DATE:20260311\r\nSUMMARY:off"
        )
    )
    # Wednesday 15:00 to Thursday 11:00 local.
    s.write(ics(event("trip", "20260311T150000", "20260312T110000")))
    # Daily 12:00-13:00 local from Monday the 16th for five days, not on Tuesday, and
    # Wednesday's moved to 16:00.
    s.write(
        ics(
            event(
                "lunch",
                "20260316T120000",
                "20260316T130000",
                "RRULE:FREQ=DAILY;COUNT=5",
                "EXDATE;TZID=Europe/Berlin:20260317T120000",
            ),
            event(
                "lunch",
                "20260318T160000",
                "20260318T170000",
                "RECURRENCE-ID;TZID=Europe/Berlin:20260318T120000",
            ),
        )
    )
    assert s.offered("2026-03-10") == []
    assert s.offered("2026-03-11") == [f"2026-03-11T{h:02d}:00:00Z" for h in range(8, 14)]
    assert s.offered("2026-03-12") == [f"2026-03-12T{h:02d}:00:00Z" for h in range(10, 16)]
    noon = "T11:00:00Z"
    assert f"2026-03-16{noon}" not in s.offered("2026-03-16")
    assert f"2026-03-17{noon}" in s.offered("2026-03-17")
    wednesday = s.offered("2026-03-18")
    assert f"2026-03-18{noon}" in wednesday and "2026-03-18T15:00:00Z" not in wednesday
    assert f"2026-03-19{noon}" not in s.offered("2026-03-19")
    assert f"2026-03-23{noon}" in s.offered("2026-03-23")  # after the fifth
    assert error_code(s.book("2026-03-10T09:00:00Z"), 409) == "slot_unavailable"
    assert error_code(s.book(f"2026-03-19{noon}"), 409) == "slot_unavailable"


def test_disconnecting_removes_the_busy_time(world: CalendarWorld) -> None:
    s = Specialist(world)
    s.write(ics(event("meet", "20260309T100000", "20260309T110000")))
    assert "2026-03-09T09:00:00Z" not in s.offered(MONDAY)
    expect(world.calendar_api.delete(f"/v1/calendars/{s.connection['id']}", headers=ADMIN), 204)
    assert s.offered(MONDAY) == MONDAY_SLOTS
    expect(s.book("2026-03-09T09:00:00Z"), 201)
    listed = expect(
        world.calendar_api.get(f"/v1/specialists/{s.specialist['id']}/calendars", headers=ADMIN),
        200,
    )
    assert [c["status"] for c in listed["calendars"]] == ["disconnected"]


def test_a_rebuild_of_the_read_model_keeps_the_calendar_busy_time(world: CalendarWorld) -> None:
    s = Specialist(world)
    s.write(ics(event("meet", "20260309T100000", "20260309T110000")))
    assert "2026-03-09T09:00:00Z" not in s.offered(MONDAY)

    url = world.service.settings.database_url
    replay_availability(url, url, page_size=500, topics=TopicSettings(), out=io.StringIO())
    assert "2026-03-09T09:00:00Z" not in world.offered(s.service["id"], MONDAY)
