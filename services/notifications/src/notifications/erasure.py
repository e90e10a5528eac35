"""Notifications takes part in erasures (ARCHITECTURE.md rule 7, docs/privacy.md).

What it keeps of a person: the booking snapshots in `notification_bookings` (their
contact details sealed, so the erasure's deleted keys already made them unreadable)
and the browsers' push subscriptions of their bookings (a device's address: deleted).
The effects carry ids only, never an address, and every message to an erased person
still due is skipped by its re-check (`Notifier`).

On `PersonErased` the consumer forgets, and records the report to the erasure ledger
as an effect in the same transaction: the ledger hears "done" only once the
forgetting has committed, and a report that fails is retried (rule 6).
"""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel

from kairos.effects import Effect, EffectHandler, EffectKind
from kairos.privacy import ErasureLedger

#: The name notifications registers under in the erasure ledger.
PARTICIPANT = "notifications"


class ErasureReport(BaseModel):
    erasure_id: UUID


ERASURE_REPORT = EffectKind("notifications.erasure_report", ErasureReport)


def erasure_reason(erasure_id: UUID) -> str:
    return f"erasure:{erasure_id}"


def register(ledger: ErasureLedger) -> None:
    """From now on every erasure waits for notifications' report."""
    ledger.create_tables()
    ledger.register(PARTICIPANT)


def report_handler(ledger: ErasureLedger) -> EffectHandler[ErasureReport]:
    def report(effect: Effect[ErasureReport]) -> None:
        ledger.report(effect.data.erasure_id, PARTICIPANT)

    return EffectHandler(ERASURE_REPORT, report)
