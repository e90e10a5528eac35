"""Bookings to notify about, built the way the consumer builds them: from a snapshot."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from psycopg_pool import ConnectionPool

from kairos.events.booking import (
    BookedClient,
    BookedService,
    BookedSpecialist,
    BookingSnapshot,
    PersonalContact,
)
from kairos.privacy import KeyStore, PersonalData
from kairos_dev.testing.services import TEST_SECRETS
from notifications.appointment import Appointment, Links, Person, Terms
from notifications.contacts import Contact

CLIENT_ZONE = "America/New_York"
SPECIALIST_ZONE = "Asia/Kolkata"


def snapshot(
    starts_at: datetime,
    *,
    client_zone: str = CLIENT_ZONE,
    specialist_zone: str = SPECIALIST_ZONE,
    client_name: str = "Ada Client",
    minutes: int = 30,
    service_id: UUID | None = None,
) -> BookingSnapshot:
    ends_at = starts_at + timedelta(minutes=minutes)
    return BookingSnapshot(
        status="confirmed",
        service=BookedService(
            service_id=service_id or uuid4(), name="First consultation", duration_minutes=30
        ),
        specialist=BookedSpecialist(
            specialist_id=uuid4(),
            timezone=specialist_zone,
            contact=PersonalContact(name="Dr. Priya Rao", email="priya@clinic.example"),
        ),
        client=BookedClient(
            timezone=client_zone,
            contact=PersonalContact(
                name=client_name, email="ada@client.example", phone="+14155550100"
            ),
        ),
        starts_at=starts_at,
        ends_at=ends_at,
        busy_from=starts_at,
        busy_until=ends_at,
        answers={},
    )


def make_appointment(
    starts_at: datetime, booking_id: UUID | None = None, **snapshot_options: Any
) -> Appointment:
    """The appointment the messages of a sample booking show (its contacts as they read
    once revealed: the sample's are plain, as in events from before sealing)."""
    booked = snapshot(starts_at, **snapshot_options)

    def person(booked_person: BookedClient | BookedSpecialist) -> Person:
        c = booked_person.contact
        assert isinstance(c.name, str) and isinstance(c.email, str)
        phone = c.phone if isinstance(c.phone, str) else None
        return Person(Contact(c.name, c.email, phone), booked_person.timezone)

    return Appointment(
        booking_id=booking_id or uuid4(),
        service_name=booked.service.name,
        starts_at=booked.starts_at,
        ends_at=booked.ends_at,
        client=person(booked.client),
        specialist=person(booked.specialist),
        terms=Terms(price=Decimal("80"), currency="EUR", cancellation_hours=24),
    )


def personal_data(pool: ConnectionPool) -> PersonalData:
    """The key store of the test services (in the test's database), as notifications reads it."""
    keys = KeyStore(pool, TEST_SECRETS["PRIVACY_MASTER_KEY"], TEST_SECRETS["PRIVACY_INDEX_KEY"])
    keys.create_tables()
    return PersonalData(keys)


class FixedLinks:
    """The links a recipient gets: they name the booking, so a test can find its messages."""

    def links_of(self, wanted: Iterable[tuple[UUID, str]]) -> FixedLinks:
        return self

    def links_for(self, booking_id: UUID, recipient: str) -> Links:
        return Links(
            manage=f"https://kairos.example/b/{booking_id}/manage#{recipient}",
            join=f"https://kairos.example/b/{booking_id}/join",
        )
