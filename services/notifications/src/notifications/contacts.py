"""The one place notifications reads a person's contact details out of an event.

Names, addresses and phone numbers arrive in a booking snapshot's `PersonalContact`
(docs/consumers.md). Everything else here asks `contact_of`, so that when personal
fields become erasable (sealed values read through one function) only this module
changes, and an erased person simply has no contact to send to.
"""

from __future__ import annotations

from dataclasses import dataclass

from kairos.events.booking import BookingSnapshot
from notifications.schedule import Recipient


@dataclass(frozen=True)
class Contact:
    """How to reach one person (never log it)."""

    name: str
    email: str
    phone: str | None = None

    def __repr__(self) -> str:
        # Personal data stays out of logs and tracebacks, even by accident.
        return "Contact(<personal data>)"


def contact_of(booking: BookingSnapshot, party: Recipient) -> Contact:
    """The contact details of the booking's client or specialist."""
    person = booking.client.contact if party == "client" else booking.specialist.contact
    return Contact(name=person.name, email=person.email, phone=person.phone)
