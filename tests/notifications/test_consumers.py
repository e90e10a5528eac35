"""The notifications consumer on the real broker and PostgreSQL: what each booking event
makes it record (e-mails due at once, reminders by the schedule), and what a cancel, a
reschedule, an approval and duplicated events do to that."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kairos.events.booking import Reminder
from tests.notifications.bookings import MINUTE, Booking, service_defined
from tests.notifications.running import Consumer

pytestmark = [pytest.mark.integration]

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)  # when the events happen
START = datetime(2026, 6, 10, 14, 0, tzinfo=UTC)


async def test_a_confirmed_booking_records_its_emails_and_every_reminder(
    consumer: Consumer,
) -> None:
    booking = Booking(START)

    await consumer.send(booking.confirmed(NOW))

    assert consumer.notices(booking) == {
        ("confirmation", "client", 0, "REQUEST"),
        ("new_booking", "specialist", 0, "REQUEST"),
    }
    assert all(r.due_at == NOW for r in consumer.effects(booking) if r.kind.endswith("notice"))
    reminders = consumer.reminders(booking)
    assert [
        (r.kind.rsplit(".", 1)[1], START - r.due_at, r.data["recipient"]) for r in reminders
    ] == [
        ("email", timedelta(hours=48), "client"),
        ("email", timedelta(hours=48), "specialist"),
        ("push", timedelta(hours=48), "client"),
        ("push", timedelta(hours=48), "specialist"),
        ("email", timedelta(hours=24), "client"),
        ("push", timedelta(hours=1), "client"),
        ("sms", timedelta(hours=1), "client"),
        ("email", timedelta(minutes=15), "client"),
        ("email", timedelta(minutes=15), "specialist"),
        ("push", timedelta(minutes=15), "client"),
        ("push", timedelta(minutes=15), "specialist"),
    ]


async def test_duplicated_events_record_each_message_once(consumer: Consumer) -> None:
    booking = Booking(START)
    confirmed = booking.confirmed(NOW)

    await consumer.send(confirmed, booking.again(confirmed))
    cancelled = booking.cancelled(NOW + MINUTE)
    await consumer.send(cancelled, booking.again(cancelled), booking.again(confirmed))

    assert len(consumer.effects(booking)) == 2 + 11 + 2
    assert consumer.notices(booking) == {
        ("confirmation", "client", 0, "REQUEST"),
        ("new_booking", "specialist", 0, "REQUEST"),
        ("cancelled", "client", 1, "CANCEL"),
        ("cancelled", "specialist", 1, "CANCEL"),
    }


async def test_a_booking_made_30_minutes_ahead_gets_only_the_15_minute_reminders(
    consumer: Consumer,
) -> None:
    booking = Booking(NOW + timedelta(minutes=30))

    await consumer.send(booking.confirmed(NOW))

    reminders = consumer.reminders(booking)
    assert {r.due_at for r in reminders} == {NOW + timedelta(minutes=15)}
    assert len(reminders) == 4


async def test_a_cancel_drops_the_reminders_and_withdraws_the_invite(consumer: Consumer) -> None:
    booking = Booking(START)

    await consumer.send(booking.confirmed(NOW), booking.cancelled(NOW + MINUTE, "Called away"))

    assert consumer.reminders(booking) == []
    assert len(consumer.reminders(booking, "cancelled")) == 11
    assert {n for n in consumer.notices(booking) if n[0] == "cancelled"} == {
        ("cancelled", "client", 1, "CANCEL"),
        ("cancelled", "specialist", 1, "CANCEL"),
    }


async def test_a_reschedule_moves_the_reminders_and_sends_the_next_sequence(
    consumer: Consumer,
) -> None:
    booking = Booking(START)
    later = START + timedelta(days=2)

    moved = booking.rescheduled(NOW + MINUTE, later)
    await consumer.send(booking.confirmed(NOW), moved, booking.again(moved))  # one move, twice

    pending = consumer.reminders(booking)
    assert len(pending) == 11
    assert {r.data["version"] for r in pending} == {1}
    assert {later - r.due_at for r in pending} == {
        timedelta(hours=48),
        timedelta(hours=24),
        timedelta(hours=1),
        timedelta(minutes=15),
    }
    assert len(consumer.reminders(booking, "cancelled")) == 11
    assert {n for n in consumer.notices(booking) if n[0] == "rescheduled"} == {
        ("rescheduled", "client", 1, "REQUEST"),
        ("rescheduled", "specialist", 1, "REQUEST"),
    }


async def test_approval_and_decline(consumer: Consumer) -> None:
    approved, declined = Booking(START), Booking(START + timedelta(hours=2))

    await consumer.send(approved.pending(NOW), declined.pending(NOW))
    assert consumer.reminders(approved) == []
    assert consumer.notices(approved) == {
        ("pending", "client", 0, None),
        ("approval_request", "specialist", 0, None),
    }
    await consumer.send(approved.confirmed(NOW + MINUTE), declined.declined(NOW + MINUTE))

    assert ("confirmed", "client", 0, "REQUEST") in consumer.notices(approved)
    assert not {n for n in consumer.notices(approved) if n[0] in ("confirmation", "new_booking")}
    assert len(consumer.reminders(approved)) == 11
    assert consumer.notices(declined) == {
        ("pending", "client", 0, None),
        ("approval_request", "specialist", 0, None),
        ("declined", "client", 1, "CANCEL"),
    }
    assert consumer.reminders(declined) == []


async def test_a_no_show_of_the_client_sends_the_notice(consumer: Consumer) -> None:
    booking = Booking(START)

    await consumer.send(booking.confirmed(NOW), booking.no_show(START + timedelta(minutes=20)))

    assert ("no_show_notice", "client", 0, None) in consumer.notices(booking)


async def test_the_services_reminders_setting_replaces_the_default_schedule(
    consumer: Consumer,
) -> None:
    booking = Booking(START)
    sms_only = [Reminder(before_minutes=120, channels=["sms"], to=["client"])]
    await consumer.send(service_defined(booking.service_id, NOW, reminders=sms_only))

    await consumer.send(booking.confirmed(NOW + MINUTE))

    assert [
        (r.kind, START - r.due_at, r.data["recipient"]) for r in consumer.reminders(booking)
    ] == [("notifications.reminder.sms", timedelta(hours=2), "client")]


async def test_a_service_updated_to_no_reminders_schedules_none_and_back_to_null_the_defaults(
    consumer: Consumer,
) -> None:
    quiet, default = Booking(START), Booking(START)
    default.service_id = quiet.service_id
    await consumer.send(service_defined(quiet.service_id, NOW, reminders=[]))
    await consumer.send(quiet.confirmed(NOW + MINUTE))
    await consumer.send(service_defined(quiet.service_id, NOW + 2 * MINUTE, updated=True))
    await consumer.send(default.confirmed(NOW + 3 * MINUTE))

    assert consumer.reminders(quiet) == []
    assert len(consumer.reminders(default)) == 11


async def test_a_late_copy_of_an_earlier_reschedule_changes_nothing(consumer: Consumer) -> None:
    booking = Booking(START)
    confirmed = booking.confirmed(NOW)  # envelopes are numbered as they are made
    first = booking.rescheduled(NOW + MINUTE, START + timedelta(days=1))
    second = booking.rescheduled(NOW + 2 * MINUTE, START + timedelta(days=2))

    await consumer.send(confirmed, first, second, booking.again(first))

    assert {n for n in consumer.notices(booking) if n[0] == "rescheduled"} == {
        ("rescheduled", "client", 1, "REQUEST"),
        ("rescheduled", "specialist", 1, "REQUEST"),
        ("rescheduled", "client", 2, "REQUEST"),
        ("rescheduled", "specialist", 2, "REQUEST"),
    }
    pending = consumer.reminders(booking)
    assert {r.data["version"] for r in pending} == {2}
    assert min(r.due_at for r in pending) == START + timedelta(days=2) - timedelta(hours=48)
