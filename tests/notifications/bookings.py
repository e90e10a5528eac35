"""A booking's life as booking.events.v1 carries it: envelopes with snapshots, sent to a
topic the way the relay sends them (the specialist's partition)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from kairos.events import Envelope
from kairos.events.booking import (
    BookedSpecialist,
    BookingCancelled,
    BookingConfirmed,
    BookingDeclined,
    BookingEvent,
    BookingPending,
    BookingReassigned,
    BookingRescheduled,
    BookingSnapshot,
    NoShowMarked,
    PersonalContact,
    PersonErased,
    Reminder,
    ServiceDefined,
    ServiceDefinition,
    ServiceUpdated,
)
from kairos.privacy import PersonalData
from tests.notifications.samples import snapshot
from tests.shared.test_messaging_consumer import PRODUCER, SPECIALIST

_positions = itertools.count(1)


def envelope(event: BookingEvent | ServiceDefinition | PersonErased, at: datetime) -> Envelope:
    if isinstance(event, PersonErased):
        aggregate = event.erasure_id
    else:
        aggregate = event.booking_id if isinstance(event, BookingEvent) else event.service_id
    return Envelope(
        event_id=uuid4(),
        type=type(event).__name__,
        version=1,
        occurred_at=at,
        producer=PRODUCER,
        notification_id=next(_positions),
        aggregate_id=aggregate,
        specialist_id=SPECIALIST,
        data=event.model_dump(mode="json"),
    )


def sealed(booking: BookingSnapshot, personal: PersonalData) -> BookingSnapshot:
    """The snapshot with its contacts sealed under each person's key."""

    def seal(contact: PersonalContact) -> PersonalContact:
        assert isinstance(contact.email, str)
        sealer = personal.sealer(contact.email)
        return PersonalContact.model_validate(
            {
                "name": sealer.seal(str(contact.name)),
                "email": sealer.seal(contact.email),
                "phone": sealer.seal_optional(
                    None if contact.phone is None else str(contact.phone)
                ),
            }
        )

    client = booking.client.model_copy(update={"contact": seal(booking.client.contact)})
    specialist = booking.specialist.model_copy(update={"contact": seal(booking.specialist.contact)})
    return booking.model_copy(update={"client": client, "specialist": specialist})


@dataclass
class Booking:
    """One booking whose events a test sends, in order."""

    starts_at: datetime
    id: UUID = field(default_factory=uuid4)
    service_id: UUID = field(default_factory=uuid4)
    # Seal the contacts under the people's keys, as booking does (None: plain, as before).
    personal: PersonalData | None = None
    snapshot_options: dict[str, Any] = field(default_factory=dict)
    # A team's booking: whose it is (None: the sample specialist), and a collective
    # booking's other members.
    specialist: BookedSpecialist | None = None
    co_specialists: list[BookedSpecialist] = field(default_factory=list)

    def snapshot(self, status: str) -> BookingSnapshot:
        made = snapshot(self.starts_at, service_id=self.service_id, **self.snapshot_options)
        if self.specialist is not None:
            members = [self.specialist, *self.co_specialists]
            made = made.model_copy(
                update={
                    "specialist": self.specialist,
                    "co_specialists": self.co_specialists,
                    "specialist_ids": [m.specialist_id for m in members],
                }
            )
        if self.personal is not None:
            made = sealed(made, self.personal)
        return made.model_copy(update={"status": status})

    def reassigned(self, at: datetime, to: BookedSpecialist) -> Envelope:
        assert self.specialist is not None, "a team's booking names its specialist"
        previous, self.specialist = self.specialist, to
        event = BookingReassigned(
            booking_id=self.id,
            booking=self.snapshot("confirmed"),
            specialist_id=to.specialist_id,
            previous_specialist_id=previous.specialist_id,
        )
        return envelope(event, at)

    def confirmed(self, at: datetime) -> Envelope:
        return envelope(
            BookingConfirmed(booking_id=self.id, booking=self.snapshot("confirmed")), at
        )

    def pending(self, at: datetime) -> Envelope:
        return envelope(BookingPending(booking_id=self.id, booking=self.snapshot("pending")), at)

    def declined(self, at: datetime) -> Envelope:
        booking = self.snapshot("declined")
        return envelope(BookingDeclined(booking_id=self.id, booking=booking), at)

    def cancelled(self, at: datetime, reason: str | None = None) -> Envelope:
        event = BookingCancelled(
            booking_id=self.id,
            booking=self.snapshot("cancelled"),
            reason=reason,
            refund_eligible=True,
            cancelled_by="client",
        )
        return envelope(event, at)

    def rescheduled(self, at: datetime, to: datetime) -> Envelope:
        previous, self.starts_at = self.starts_at, to
        booking = self.snapshot("confirmed")
        event = BookingRescheduled(
            booking_id=self.id,
            booking=booking,
            starts_at=to,
            ends_at=booking.ends_at,
            busy_from=to,
            busy_until=booking.ends_at,
            previous_starts_at=previous,
            previous_ends_at=previous + (booking.ends_at - to),
        )
        return envelope(event, at)

    def no_show(self, at: datetime) -> Envelope:
        event = NoShowMarked(booking_id=self.id, booking=self.snapshot("no_show"), party="client")
        return envelope(event, at)

    def again(self, original: Envelope) -> Envelope:
        """The same event once more under another id and position (a producer's retry)."""
        return original.model_copy(
            update={"event_id": uuid4(), "notification_id": next(_positions)}
        )


MINUTE = timedelta(minutes=1)


def service_defined(
    service_id: UUID,
    at: datetime,
    *,
    reminders: list[Reminder] | None = None,
    no_show_notice: str | None = None,
    updated: bool = False,
) -> Envelope:
    """The service's definition as booking publishes it (ServiceUpdated carries it whole)."""
    kind = ServiceUpdated if updated else ServiceDefined
    definition = kind(
        service_id=service_id,
        specialist_id=SPECIALIST,
        name="First consultation",
        duration_minutes=30,
        slot_interval_minutes=None,
        buffer_before_minutes=0,
        buffer_after_minutes=0,
        minimum_notice_minutes=0,
        max_advance_days=90,
        max_per_day=None,
        cancellation_hours=48,
        requires_approval=False,
        price=Decimal("120.00"),
        currency="EUR",
        questions=[],
        reminders=reminders,
        no_show_notice=no_show_notice,
    )
    return envelope(definition, at)


def person_erased(erasure_id: UUID, subjects: list[UUID], at: datetime) -> Envelope:
    return envelope(PersonErased(erasure_id=erasure_id, subjects=subjects), at)
