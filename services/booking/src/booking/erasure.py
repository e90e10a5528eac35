"""Erasing a person (POST /v1/privacy/erasures): the booking service's side.

In order, so that an interrupted erasure is finished by a retry or at the next start:
1. the erasure is opened in the ledger, pending here and at every participant, with
   the person's data subject (none if the address is unknown or already erased);
2. an `Erasure` event is stored: the relay publishes it as `PersonErased`, on which
   the other participants forget and report;
3. the subject's key is deleted: every sealed copy of their data, in the event store,
   on the topic and in any consumer, reads as erased from now on;
4. the read models that hold revealed values are overwritten (booking.directory);
5. the booking service reports itself done.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime
from uuid import UUID, uuid4

from eventsourcing.persistence import IntegrityError

from booking.application import Bookings
from booking.directory import Directory
from booking.domain import Erasure
from kairos.privacy import ErasureLedger, ErasureStatus, PersonalData

SERVICE = "booking"


class Erasures:
    def __init__(
        self, app: Bookings, personal: PersonalData, ledger: ErasureLedger, directory: Directory
    ) -> None:
        self._app = app
        self._personal = personal
        self._ledger = ledger
        self._directory = directory

    def erase(self, email: str, now: datetime) -> UUID:
        """Forget the person with this address; the erasure's id, to follow its state."""
        erasure_id = uuid4()
        subject = self._personal.keys.subject_of(email)
        subjects = [subject] if subject is not None else []
        self._ledger.open(erasure_id, subjects, requested_by=SERVICE)
        self._finish(erasure_id, subjects, now)
        return erasure_id

    def resume(self, now: datetime) -> None:
        """Finish the erasures this service left pending (a crash between the steps)."""
        for erasure_id, subjects in self._ledger.pending(SERVICE):
            self._finish(erasure_id, subjects, now)

    def status(self, erasure_id: UUID) -> ErasureStatus | None:
        return self._ledger.status(erasure_id)

    def _finish(self, erasure_id: UUID, subjects: list[UUID], now: datetime) -> None:
        """Steps 2 to 5; each may have been done before."""
        with suppress(IntegrityError):  # stored before an interruption
            self._app.save(Erasure(id=erasure_id, subjects=subjects, at=now))
        self._personal.keys.shred_subjects(subjects)
        if subjects:
            self._directory.forget(subjects)
        self._ledger.report(erasure_id, SERVICE)
