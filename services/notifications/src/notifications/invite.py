"""Calendar invites (.ics, RFC 5545) for a booking, in the iTIP methods of RFC 5546.

- REQUEST: the e-mailed invite; the client's calendar app offers to add it.
- PUBLISH: `GET /v1/bookings/{id}/invite.ics`, a plain copy to import (RFC 5546
  §3.2.1: a PUBLISH names no ATTENDEE).
- CANCEL: a cancelled or declined booking; the app removes the event.

The UID is the booking's, so every invite of one booking updates the same calendar
entry; SEQUENCE orders them (each reschedule adds one, and the app takes the
highest). DTSTART/DTEND are in UTC: the app shows them in its own zone. DTSTAMP is
the caller's `stamp` (the event's time), so the same invite is the same bytes each
time it is built, e.g. when a send is repeated after a crash.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

from icalendar import STATUS, Calendar, Event, vCalAddress

from notifications.appointment import Appointment, Links
from notifications.contacts import Contact

Method = Literal["REQUEST", "PUBLISH", "CANCEL"]

PRODID = "-//Kairos//Notifications//EN"
CONTENT_TYPE = "text/calendar"


def invite_uid(booking_id: UUID) -> str:
    """The UID of every invite of a booking: stable, and unique across systems."""
    return f"booking-{booking_id}@kairos"


def _address(contact: Contact, **params: str) -> vCalAddress:
    address = vCalAddress(f"mailto:{contact.email}")
    address.params["CN"] = contact.name
    address.params.update(params)
    return address


def invite(
    appointment: Appointment,
    method: Method,
    *,
    sequence: int,
    stamp: datetime,
    links: Links | None = None,
    cancelled: bool = False,
) -> bytes:
    """The .ics of `appointment` for `method`, its SEQUENCE given by the caller
    (0 when booked, +1 for each reschedule, and the cancel's own); a PUBLISH of a booking
    that ended is `cancelled`."""
    if sequence < 0:
        raise ValueError("SEQUENCE is never negative")
    specialist = appointment.specialist.contact
    event = Event.new(
        uid=invite_uid(appointment.booking_id),
        sequence=sequence,
        stamp=stamp.astimezone(UTC),
        start=appointment.starts_at.astimezone(UTC),
        end=appointment.ends_at.astimezone(UTC),
        summary=f"{appointment.service_name} with {specialist.name}",
        status=STATUS.CANCELLED if method == "CANCEL" or cancelled else STATUS.CONFIRMED,
        organizer=_address(specialist),
    )
    if method != "PUBLISH":
        event.add(
            "attendee",
            _address(
                appointment.client.contact,
                ROLE="REQ-PARTICIPANT",
                PARTSTAT="NEEDS-ACTION",
                RSVP="FALSE",
            ),
        )
    if links is not None and method != "CANCEL":
        event.add("url", links.manage)
        if links.join is not None:  # none once the room is closed
            event.add("location", links.join)
        joining = f"Join: {links.join}\n" if links.join is not None else ""
        event.add("description", f"{joining}Reschedule or cancel: {links.manage}")
    # Not Calendar.new: it gives the calendar a random UID, and the same invite must
    # be the same bytes every time.
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", method)
    calendar.add_component(event)
    return bytes(calendar.to_ical())
