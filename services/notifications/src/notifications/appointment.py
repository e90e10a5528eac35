"""What every notification of a booking says, gathered from the event and the service.

A booking snapshot carries who, when and what; the service's price and cancellation
policy come from its definition (`Terms`), and the links from the link issuer
(`Links`): they never travel on a topic. Messages and invites take an `Appointment`
and know nothing of events.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol
from uuid import UUID

from kairos.events.booking import BookingSnapshot
from kairos.privacy import Revealer
from notifications.contacts import Contact, contact_of, fetch_keys


@dataclass(frozen=True)
class Terms:
    """What the client agreed to, from the service definition."""

    price: Decimal | None = None
    currency: str | None = None
    cancellation_hours: int = 24
    no_show_notice: str | None = None  # sent to a client marked a no-show, if set


@dataclass(frozen=True)
class Links:
    """Where the client manages (reschedules, cancels) and joins the consultation."""

    manage: str
    join: str | None  # None once the video room is closed: there is nothing to join
    # When the join link starts letting one in (the room's waiting room, as the video
    # service published it); None until video told.
    join_opens_at: datetime | None = None


class IssuedLinks(Protocol):
    """The links of the recipients a `LinkIssuer` was asked for."""

    def links_for(self, booking_id: UUID, recipient: str) -> Links:
        """LookupError for a booking the issuer does not know."""
        ...


class LinkIssuer(Protocol):
    """Gives recipients their links to bookings when messages are built, a batch of
    (booking, recipient) at a time: they never travel on a topic, and a manage link
    carries a bearer credential."""

    def links_of(self, wanted: Iterable[tuple[UUID, str]]) -> IssuedLinks: ...


@dataclass(frozen=True)
class Person:
    contact: Contact
    timezone: str  # IANA zone: times are shown to this person in it
    locale: str | None = None  # None: English


@dataclass(frozen=True)
class Appointment:
    booking_id: UUID
    service_name: str
    starts_at: datetime
    ends_at: datetime
    client: Person
    specialist: Person
    terms: Terms

    def person(self, party: str) -> Person:
        return self.client if party == "client" else self.specialist


def appointment_of(
    booking_id: UUID,
    booking: BookingSnapshot,
    terms: Terms,
    revealer: Revealer,
    client_locale: str | None = None,
) -> Appointment:
    """The appointment as its messages show it: contact details opened with `revealer`
    (one per message, docs/privacy.md)."""
    fetch_keys(revealer, booking)
    return Appointment(
        booking_id=booking_id,
        service_name=booking.service.name,
        starts_at=booking.starts_at,
        ends_at=booking.ends_at,
        client=Person(
            contact_of(booking, "client", revealer), booking.client.timezone, client_locale
        ),
        specialist=Person(contact_of(booking, "specialist", revealer), booking.specialist.timezone),
        terms=terms,
    )
