"""Calendar invites: what icalendar reads back from each method, and a round trip
through a real CalDAV server (Radicale) where a reschedule replaces the entry."""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar, Event

from kairos_dev.infra.process import free_port
from kairos_dev.testing import ServiceProcess
from notifications.appointment import Appointment, Links
from notifications.invite import Method, invite, invite_uid
from tests.notifications.samples import make_appointment

START = datetime(2026, 6, 10, 14, 0, tzinfo=UTC)
STAMP = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def parse(ics: bytes) -> tuple[Calendar, Event]:
    calendar = Calendar.from_ical(ics)
    assert isinstance(calendar, Calendar)
    (event,) = calendar.events
    return calendar, event


@pytest.mark.unit
@pytest.mark.parametrize("method", ["REQUEST", "PUBLISH", "CANCEL"])
def test_the_invite_parses_with_the_booking_in_utc(method: Method, links: Links) -> None:
    appointment = make_appointment(START.astimezone(ZoneInfo("Asia/Kolkata")))

    calendar, event = parse(invite(appointment, method, sequence=3, stamp=STAMP, links=links))

    assert calendar["METHOD"] == method
    assert event["UID"] == invite_uid(appointment.booking_id)
    assert event["SEQUENCE"] == 3
    assert event.start == START and event["DTSTART"].to_ical() == b"20260610T140000Z"
    assert event.end == START + timedelta(minutes=30)
    assert event["DTEND"].to_ical() == b"20260610T143000Z"
    assert event.DTSTAMP == STAMP
    assert str(event["ORGANIZER"]) == "mailto:priya@clinic.example"
    assert event["ORGANIZER"].params["CN"] == "Dr. Priya Rao"
    assert event["STATUS"] == ("CANCELLED" if method == "CANCEL" else "CONFIRMED")


@pytest.mark.unit
def test_a_request_invites_the_client_and_a_publish_names_no_attendee(links: Links) -> None:
    appointment = make_appointment(START)

    _, request = parse(invite(appointment, "REQUEST", sequence=0, stamp=STAMP, links=links))
    _, publish = parse(invite(appointment, "PUBLISH", sequence=0, stamp=STAMP, links=links))

    assert str(request["ATTENDEE"]) == "mailto:ada@client.example"
    assert request["ATTENDEE"].params["CN"] == "Ada Client"
    assert request["ATTENDEE"].params["ROLE"] == "REQ-PARTICIPANT"
    assert "ATTENDEE" not in publish  # RFC 5546 §3.2.1
    assert request["URL"] == links.manage and request["LOCATION"] == links.join


@pytest.mark.unit
def test_a_cancel_carries_no_links(links: Links) -> None:
    _, event = parse(
        invite(make_appointment(START), "CANCEL", sequence=1, stamp=STAMP, links=links)
    )

    assert "URL" not in event and "LOCATION" not in event


@pytest.mark.unit
def test_the_same_invite_is_the_same_bytes_and_every_booking_has_its_own_uid() -> None:
    first, second = make_appointment(START), make_appointment(START)

    assert invite(first, "REQUEST", sequence=0, stamp=STAMP) == invite(
        first, "REQUEST", sequence=0, stamp=STAMP
    )
    assert invite_uid(first.booking_id) != invite_uid(second.booking_id)


# A real CalDAV server: what a calendar app syncs with.


@pytest.fixture
def caldav(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    args = [
        "radicale",
        "--server-hosts",
        f"127.0.0.1:{port}",
        "--auth-type",
        "none",
        "--storage-filesystem-folder",
        str(tmp_path / "collections"),
        "--logging-level",
        "warning",
    ]
    with ServiceProcess("radicale", args, os.environ, port, ready_path="/.web/") as server:
        collection = f"{server.url}/ada/kairos/"
        _request("MKCALENDAR", collection)
        yield collection


def _request(method: str, url: str, body: bytes | None = None) -> bytes:
    request = urllib.request.Request(url, data=body, method=method)
    request.add_header("Authorization", "Basic YWRhOng=")  # ada:x; auth type none
    if body is not None:
        request.add_header("Content-Type", "text/calendar; charset=utf-8")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status in (200, 201, 204), response.status
        data: bytes = response.read()
        return data


def _stored_events(collection: str) -> list[Event]:
    """Every event the server holds, as a client syncing the calendar would read them."""
    query = b"""<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><C:calendar-data/></D:prop>
  <C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">
    <C:time-range start="20260601T000000Z" end="20260701T000000Z"/>
  </C:comp-filter></C:comp-filter></C:filter>
</C:calendar-query>"""
    request = urllib.request.Request(collection, data=query, method="REPORT")
    request.add_header("Authorization", "Basic YWRhOng=")
    request.add_header("Depth", "1")
    request.add_header("Content-Type", "application/xml")
    with urllib.request.urlopen(request, timeout=10) as response:
        xml = response.read().decode()
    events: list[Event] = []
    for chunk in xml.split("BEGIN:VCALENDAR")[1:]:
        text = "BEGIN:VCALENDAR" + chunk.split("END:VCALENDAR")[0] + "END:VCALENDAR\r\n"
        events.extend(parse(text.replace("&#13;", "").encode())[1:])
    return events


def _put(collection: str, appointment: Appointment, ics: bytes) -> None:
    _request("PUT", f"{collection}{appointment.booking_id}.ics", ics)


@pytest.mark.integration
def test_the_invite_round_trips_through_a_caldav_server(caldav: str, links: Links) -> None:
    appointment = make_appointment(START)
    ics = invite(appointment, "REQUEST", sequence=0, stamp=STAMP, links=links)

    _put(caldav, appointment, ics)
    _, stored = parse(_request("GET", f"{caldav}{appointment.booking_id}.ics"))

    _, sent = parse(ics)
    for name in ("UID", "SEQUENCE", "DTSTART", "DTEND", "ORGANIZER", "ATTENDEE", "SUMMARY"):
        assert stored[name].to_ical() == sent[name].to_ical(), name
    (found,) = _stored_events(caldav)  # the server's time-range query finds it
    assert found["UID"] == invite_uid(appointment.booking_id)


@pytest.mark.integration
def test_a_rescheduled_invite_replaces_the_entry_with_the_next_sequence(
    caldav: str, links: Links
) -> None:
    appointment = make_appointment(START)
    moved = replace(
        appointment,
        starts_at=START + timedelta(days=2),
        ends_at=START + timedelta(days=2, minutes=30),
    )

    _put(caldav, appointment, invite(appointment, "REQUEST", sequence=0, stamp=STAMP, links=links))
    _put(caldav, moved, invite(moved, "REQUEST", sequence=1, stamp=STAMP, links=links))

    (event,) = _stored_events(caldav)
    assert event["SEQUENCE"] == 1
    assert event.start == START + timedelta(days=2)
