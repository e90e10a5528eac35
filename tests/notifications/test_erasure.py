"""Notifications takes part in erasures (ARCHITECTURE.md rule 7): after `PersonErased`
it keeps nothing readable of the person, sends them nothing more, and reports done to
the erasure ledger; the other party's messages still go."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from kairos.privacy import ErasureLedger
from kairos.providers.push import PushSubscription
from notifications.erasure import PARTICIPANT, register, report_handler
from notifications.tables import add_push_subscription
from tests.notifications.bookings import MINUTE, Booking, person_erased
from tests.notifications.delivering import Delivery
from tests.notifications.samples import personal_data

pytestmark = [pytest.mark.integration]

CLIENT_DETAILS = ("ada@client.example", "Ada Client", "+14155550100")


def stored_text(database: str) -> str:
    """Everything notifications keeps, as text: its tables and its effects."""
    with psycopg.connect(database) as conn:
        return "\n".join(
            str(row)
            for table in ("notification_bookings", "push_subscriptions", "effects")
            for row in conn.execute(f"SELECT * FROM {table}").fetchall()
        )


async def test_an_erased_client_gets_nothing_more_and_nothing_readable_is_kept(
    delivery: Delivery,
) -> None:
    database = delivery.consumer.database
    ledger = ErasureLedger(database)
    register(ledger)
    now = datetime.now(UTC).replace(microsecond=0)
    with ConnectionPool(database, min_size=1, max_size=2) as pool:
        personal = personal_data(pool)
        booking = Booking(now + timedelta(days=3), personal=personal)
        with psycopg.connect(database, autocommit=True) as conn:
            subscription = PushSubscription("https://push.invalid/s/1", "p256dh", "auth")
            add_push_subscription(conn, uuid4(), f"booking:{booking.id}", subscription)
        await delivery.consumer.send(booking.confirmed(now))
        await delivery.dispatch(now + MINUTE)
        # Sealed contacts are opened when the message is built.
        assert delivery.subjects(booking) == [
            "ada@client.example: Booked",
            "priya@clinic.example: New booking",
        ]

        subject = personal.keys.subject_of("ada@client.example")
        assert subject is not None
        erasure_id = uuid4()
        ledger.open(erasure_id, [subject], "booking")
        personal.keys.shred_subjects([subject])
        await delivery.consumer.send(person_erased(erasure_id, [subject], now + 2 * MINUTE))
        await delivery.dispatch(booking.starts_at - timedelta(minutes=14), report_handler(ledger))

    status = ledger.status(erasure_id)
    assert status is not None and status.services[PARTICIPANT] == "done"
    stored = stored_text(database)
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM push_subscriptions").fetchone() == (0,)
    assert not [detail for detail in CLIENT_DETAILS if detail in stored]
    # Every reminder to the client was skipped; the specialist's went.
    reminders = delivery.consumer.reminders(booking, status="skipped")
    assert {r.data["recipient"] for r in reminders} == {"client"}
    assert len(reminders) == 7  # 48 h, 24 h, 1 h, 15 min: e-mail, SMS and push
    sent = [s for s in delivery.subjects(booking) if "Reminder" in s]
    assert sent == ["priya@clinic.example: Reminder", "priya@clinic.example: Reminder"]
