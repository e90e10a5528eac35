"""booking.events.v1 envelopes of one booking, as booking's relay publishes them: for the
tests and benchmarks of consumers that need a booking's lifecycle without booking."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from kairos.events import Envelope
from kairos.events import booking as contract

# Positions in "booking's log", increasing across every booking a process makes, as a
# consumer expects of one producer (it skips a position older than one it has seen).
_POSITIONS = itertools.count(1)


class BookingEvents:
    """The events of one booking of `specialist_id`'s service, the client's and the
    specialist's contact given (sealed, as booking seals them). A team's booking: every
    member in `members` for a collective one (`specialist_id` first), and `reassigned`
    for a round-robin one (its events stay on `specialist_id`'s partition)."""

    def __init__(
        self,
        contact: contract.PersonalContact,
        specialist_id: UUID,
        service_id: UUID,
        *,
        answers: dict[str, Any] | None = None,
        minutes: int = 30,
        timezone: str = "Europe/Paris",
        members: list[UUID] | None = None,
    ) -> None:
        self.id = uuid4()
        self.contact = contact
        self.specialist_id = specialist_id
        self.assigned = specialist_id  # whose booking it is now (a reassignment moves it)
        self.members = members
        self.service_id = service_id
        self.answers = answers or {}
        self.length = timedelta(minutes=minutes)
        self.timezone = timezone

    def envelope(self, payload: contract.Payload, aggregate: UUID | None = None) -> Envelope:
        return Envelope(
            event_id=uuid4(),
            type=type(payload).__name__,
            version=1,
            occurred_at=datetime.now(UTC),
            producer="booking",
            notification_id=next(_POSITIONS),
            aggregate_id=aggregate or self.id,
            specialist_id=self.specialist_id,
            data=payload.model_dump(mode="json"),
        )

    def snapshot(self, starts_at: datetime, status: Any = "confirmed") -> contract.BookingSnapshot:
        return contract.BookingSnapshot(
            status=status,
            service=contract.BookedService(
                service_id=self.service_id,
                name="Consultation",
                duration_minutes=self.length // timedelta(minutes=1),
            ),
            specialist=contract.BookedSpecialist(
                specialist_id=self.assigned, timezone=self.timezone, contact=self.contact
            ),
            client=contract.BookedClient(timezone=self.timezone, contact=self.contact),
            starts_at=starts_at,
            ends_at=starts_at + self.length,
            busy_from=starts_at,
            busy_until=starts_at + self.length,
            answers=self.answers,
            specialist_ids=self.members or [self.assigned],
        )

    def confirmed(self, starts_at: datetime) -> Envelope:
        return self.envelope(
            contract.BookingConfirmed(booking_id=self.id, booking=self.snapshot(starts_at))
        )

    def rescheduled(self, old: datetime, new: datetime) -> Envelope:
        return self.envelope(
            contract.BookingRescheduled(
                booking_id=self.id,
                starts_at=new,
                ends_at=new + self.length,
                busy_from=new,
                busy_until=new + self.length,
                previous_starts_at=old,
                previous_ends_at=old + self.length,
                booking=self.snapshot(new),
            )
        )

    def cancelled(self, starts_at: datetime) -> Envelope:
        return self.envelope(
            contract.BookingCancelled(
                booking_id=self.id,
                refund_eligible=True,
                cancelled_by="client",
                booking=self.snapshot(starts_at, "cancelled"),
            )
        )

    def completed(self, starts_at: datetime) -> Envelope:
        return self.envelope(
            contract.BookingCompleted(
                booking_id=self.id, booking=self.snapshot(starts_at, "completed")
            )
        )

    def no_show(self, starts_at: datetime) -> Envelope:
        return self.envelope(
            contract.NoShowMarked(
                booking_id=self.id, party="client", booking=self.snapshot(starts_at, "no_show")
            )
        )

    def reassigned(self, starts_at: datetime, to: UUID) -> Envelope:
        previous, self.assigned = self.assigned, to
        return self.envelope(
            contract.BookingReassigned(
                booking_id=self.id,
                specialist_id=to,
                previous_specialist_id=previous,
                booking=self.snapshot(starts_at),
            )
        )
