"""The one place notifications reads a person's contact details out of a booking.

Names, addresses and phone numbers arrive sealed in a booking snapshot's
`PersonalContact` (docs/privacy.md). They are opened here, through a `Revealer` made
for one effect or one request (keys are never kept longer), and nowhere else. A
person whose keys an erasure deleted reads as `[erased]`: they have no contact, and
nothing is sent to them.
"""

from __future__ import annotations

from dataclasses import dataclass

from kairos.events.booking import BookingSnapshot, PersonalContact
from kairos.privacy import ERASED, Revealer
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

    @property
    def erased(self) -> bool:
        """The person was erased: there is no one to send to."""
        return self.email == ERASED


def sealed_contact(booking: BookingSnapshot, party: Recipient) -> PersonalContact:
    return booking.client.contact if party == "client" else booking.specialist.contact


def fetch_keys(revealer: Revealer, *bookings: BookingSnapshot) -> None:
    """Both people's keys of each booking (a message names both), in one key-store
    query for a whole batch of messages."""
    revealer.prefetch(
        [
            sealed
            for booking in bookings
            for sealed in (booking.client.contact.email, booking.specialist.contact.email)
        ]
    )


def contact_of(booking: BookingSnapshot, party: Recipient, revealer: Revealer) -> Contact:
    """The contact details of the booking's client or specialist, in clear (or erased)."""
    person = sealed_contact(booking, party)
    email = revealer.reveal(person.email)
    # An erased person's phone must not outlive their address (a legacy plain value).
    phone = None if email == ERASED else revealer.reveal_optional(person.phone)
    return Contact(name=revealer.reveal(person.name), email=email, phone=phone)
