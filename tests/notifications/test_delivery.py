"""From booking events to what people receive: the consumer records, the effect
dispatcher sends through the real channels to the dev fakes (SMTP sink, Twilio API,
push service). Each message arrives once however often its event does; a cancelled
booking's reminders never go; reminders go at their time, and only then."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import psycopg
import pytest
from icalendar import Calendar
from prometheus_client import REGISTRY

from kairos.events.booking import BookedSpecialist, PersonalContact
from kairos.providers.push import PushSubscription
from notifications.appointment import Links
from notifications.tables import add_push_subscription
from tests.notifications.bookings import MINUTE, Booking, service_defined
from tests.notifications.delivering import Delivery
from tests.notifications.samples import FixedLinks

pytestmark = [pytest.mark.integration]


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_booking_gets_its_emails_once_and_its_reminders_at_their_time(
    delivery: Delivery,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    booking = Booking(now + timedelta(days=3))
    confirmed = booking.confirmed(now)
    subscription = delivery.fakes.push.post("/dev/push/subscriptions")
    with psycopg.connect(delivery.consumer.database, autocommit=True) as conn:
        add_push_subscription(
            conn,
            uuid4(),
            f"booking:{booking.id}",
            PushSubscription(subscription["endpoint"], **subscription["keys"]),
        )

    sent_before = _sample("kairos_notifications_sent_total", channel="email")
    late_before = _sample("kairos_notifications_lateness_seconds_count", channel="email")

    await delivery.consumer.send(confirmed, booking.again(confirmed))
    await delivery.dispatch(now + timedelta(seconds=1))
    await delivery.dispatch(now + timedelta(seconds=2))  # nothing new is due

    assert delivery.subjects(booking) == [
        "ada@client.example: Booked",
        "priya@clinic.example: New booking",
    ]
    assert _sample("kairos_notifications_sent_total", channel="email") == sent_before + 2
    assert (
        _sample("kairos_notifications_lateness_seconds_count", channel="email") == late_before + 2
    )
    confirmation = next(m for m in delivery.mails(booking) if m["to"] == ["ada@client.example"])
    ics = delivery.fakes.mail.get_bytes(confirmation["attachments"][0]["url"])
    assert Calendar.from_ical(ics)["METHOD"] == "REQUEST"

    # An hour before the start: the 48 h, 24 h and 1 h reminders, not the 15-minute ones.
    await delivery.dispatch(booking.starts_at - timedelta(minutes=59))

    reminders = [s for s in delivery.subjects(booking) if "Reminder" in s]
    assert reminders == [
        "ada@client.example: Reminder",
        "ada@client.example: Reminder",
        "priya@clinic.example: Reminder",
    ]
    # The 1 h reminder's text carries the manage link, which names the booking.
    (sms,) = [m for m in delivery.fakes.sms.messages("sms") if str(booking.id) in m["body"]]
    assert sms["to"] == "+14155550100" and "starts in 1 hour" in sms["body"]
    pushed = [
        m
        for m in delivery.fakes.push.messages("push")
        if m["subscription_id"] == subscription["id"]
    ]
    assert len(pushed) == 2  # 48 h and 1 h, to the client's browser

    # 14 minutes before: the 15-minute reminders, with the join link, to both.
    await delivery.dispatch(booking.starts_at - timedelta(minutes=14))

    last = [m for m in delivery.mails(booking) if "15 minutes" in m["subject"]]
    assert sorted(m["to"][0] for m in last) == ["ada@client.example", "priya@clinic.example"]
    assert all(f"https://kairos.example/b/{booking.id}/join" in m["text"] for m in last)
    assert len(delivery.mails(booking)) == 2 + 3 + 2  # each message once


async def test_a_cancelled_booking_sends_the_cancel_once_and_no_reminder(
    delivery: Delivery,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    booking = Booking(now + timedelta(days=3))
    cancelled = booking.cancelled(now + MINUTE, "Called away")

    await delivery.consumer.send(booking.confirmed(now), cancelled, booking.again(cancelled))
    await delivery.dispatch(now + 2 * MINUTE)
    await delivery.dispatch(booking.starts_at - timedelta(minutes=1))

    # The confirmation was about a version of the booking that no longer holds.
    assert delivery.subjects(booking) == [
        "ada@client.example: Cancelled",
        "priya@clinic.example: Cancelled",
    ]
    for mail in delivery.mails(booking):
        (attachment,) = mail["attachments"]
        assert attachment["content_type"] == "text/calendar; method=CANCEL"
        event = Calendar.from_ical(delivery.fakes.mail.get_bytes(attachment["url"])).events[0]
        assert event["SEQUENCE"] == 1 and event["STATUS"] == "CANCELLED"
    assert "Called away" in delivery.mails(booking)[0]["text"]


class _OneBookingUnknown(FixedLinks):
    """Links from an issuer that does not know one booking (booking erased it, or never
    had it), counting the calls the notifier makes."""

    def __init__(self, unknown: UUID) -> None:
        self.unknown = unknown
        self.asked: list[set[tuple[UUID, str]]] = []

    def links_of(self, wanted: Iterable[tuple[UUID, str]]) -> _OneBookingUnknown:
        self.asked.append(set(wanted))
        return self

    def links_for(self, booking_id: UUID, recipient: str) -> Links:
        if booking_id == self.unknown and recipient == "client":
            raise LookupError(f"booking {booking_id}: not known to the booking service")
        return super().links_for(booking_id, recipient)


async def test_a_batch_asks_for_its_links_once_and_a_booking_without_a_token_fails_alone(
    delivery: Delivery,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    known, unknown = Booking(now + timedelta(days=3)), Booking(now + timedelta(days=3))
    links = _OneBookingUnknown(unknown.id)
    delivery.notifier = replace(delivery.notifier, links=links)

    await delivery.consumer.send(known.confirmed(now), unknown.confirmed(now))
    await delivery.dispatch(now + timedelta(seconds=1))

    # The four notices were claimed together: one question for all their recipients.
    assert links.asked == [
        {(b.id, who) for b in (known, unknown) for who in ("client", "specialist")}
    ]
    assert delivery.subjects(known) == [
        "ada@client.example: Booked",
        "priya@clinic.example: New booking",
    ]
    assert delivery.subjects(unknown) == ["priya@clinic.example: New booking"]
    with psycopg.connect(delivery.consumer.database) as conn:
        parked = conn.execute(
            "SELECT data->>'booking_id', data->>'recipient', last_error FROM effects"
            " WHERE status = 'parked'"
        ).fetchall()
    assert [(UUID(b), r) for b, r, _ in parked] == [(unknown.id, "client")]
    assert "LookupError" in parked[0][2]


async def test_two_dispatchers_send_each_message_once(delivery: Delivery) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    bookings = [Booking(now + timedelta(days=3, hours=n)) for n in range(10)]
    await delivery.consumer.send(*(booking.confirmed(now) for booking in bookings))

    await asyncio.gather(*(delivery.dispatch(now + MINUTE) for _ in range(2)))

    for booking in bookings:
        ids = [m["message_id"] for m in delivery.mails(booking)]
        assert len(ids) == 2 and len(set(ids)) == 2, ids


# A dispatcher killed (SIGKILL) while sending: it runs in a subprocess
# (tests/notifications/crash_worker.py) that hangs before or after the SMTP server took
# the e-mail; a successor takes over once the dead one's lease has run out.

ROOT = Path(__file__).resolve().parents[2]


async def kill_while_sending(delivery: Delivery, point: str) -> str:
    """Run the doomed dispatcher until it reaches `point`, kill it; the Message-ID it held."""
    url = delivery.consumer.database
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE reached (message_id text)")
    command = [
        sys.executable,
        "-m",
        "tests.notifications.crash_worker",
        url,
        str(delivery.fakes.mail.port),
        point,
    ]
    process = subprocess.Popen(command, cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while (reached := _reached(url)) is None:
            assert process.poll() is None, "the worker died before it got there"
            assert time.monotonic() < deadline, "the worker never got there"
            await asyncio.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    return reached


def _reached(url: str) -> str | None:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT message_id FROM reached").fetchone()
    return None if row is None else str(row[0])


async def test_a_crash_after_the_smtp_server_took_an_email_repeats_it_once_with_its_message_id(
    delivery: Delivery,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    booking = Booking(now + timedelta(days=3))
    await delivery.consumer.send(booking.confirmed(now))

    held = await kill_while_sending(delivery, "after-send")
    assert await delivery.dispatch(now + MINUTE) == 1  # the other one; the held one is leased
    await delivery.dispatch(now + timedelta(hours=2))  # the lease ran out

    ids = sorted(m["message_id"] for m in delivery.mails(booking))
    assert ids.count(held) == 2  # the receiver sees the repeat for what it is
    assert len(ids) == 3 and len(set(ids)) == 2


async def test_a_crash_before_sending_still_sends_the_email_once(delivery: Delivery) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    booking = Booking(now + timedelta(days=3))
    await delivery.consumer.send(booking.confirmed(now))

    held = await kill_while_sending(delivery, "before-send")
    assert held not in [m["message_id"] for m in delivery.mails(booking)]
    await delivery.dispatch(now + timedelta(hours=2))

    ids = [m["message_id"] for m in delivery.mails(booking)]
    assert sorted(ids) == sorted(set(ids)) and held in ids and len(ids) == 2


async def test_the_services_terms_and_no_show_notice_are_in_the_emails(
    delivery: Delivery,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    booking = Booking(now + timedelta(days=3))
    notice = "You missed your session; a new one can be booked at half price."
    defined = service_defined(booking.service_id, now, no_show_notice=notice)

    await delivery.consumer.send(defined, booking.confirmed(now + MINUTE))
    await delivery.dispatch(now + 2 * MINUTE)
    await delivery.consumer.send(booking.no_show(now + 3 * MINUTE))
    await delivery.dispatch(now + 4 * MINUTE)

    by_subject = {m["subject"].split(":")[0]: m for m in delivery.mails(booking)}
    confirmation = by_subject["Booked"]["text"]
    assert "120.00 EUR" in confirmation and "free up to 48 hours" in confirmation
    assert notice in by_subject["We missed you"]["text"]


def member(name: str) -> BookedSpecialist:
    """A member of a team, reached at <name>@team.example."""
    contact = PersonalContact(name=f"Dr. {name.title()}", email=f"{name}@team.example")
    return BookedSpecialist(specialist_id=uuid4(), timezone="Europe/Berlin", contact=contact)


async def test_every_member_of_a_collective_booking_gets_its_messages_and_reminders(
    delivery: Delivery,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    lead, partner = member("lead"), member("partner")
    booking = Booking(now + timedelta(days=3), specialist=lead, co_specialists=[partner])

    await delivery.consumer.send(booking.confirmed(now))
    await delivery.dispatch(now + timedelta(seconds=1))
    assert delivery.subjects(booking) == [
        "ada@client.example: Booked",
        "lead@team.example: New booking",
        "partner@team.example: New booking",
    ]
    for mail in delivery.mails(booking)[1:]:
        (attachment,) = mail["attachments"]
        assert attachment["content_type"] == "text/calendar; method=REQUEST"
    # Each member's message is a message of its own, not a repeat of the lead's.
    ids = [m["message_id"] for m in delivery.mails(booking)]
    assert len(set(ids)) == len(ids) == 3

    await delivery.dispatch(booking.starts_at - timedelta(minutes=14))
    last = sorted(m["to"][0] for m in delivery.mails(booking) if "15 minutes" in m["subject"])
    assert last == ["ada@client.example", "lead@team.example", "partner@team.example"]

    await delivery.consumer.send(booking.cancelled(booking.starts_at - timedelta(minutes=13)))
    await delivery.dispatch(booking.starts_at - timedelta(minutes=12))
    cancelled = [s for s in delivery.subjects(booking) if s.endswith("Cancelled")]
    assert cancelled == [
        "ada@client.example: Cancelled",
        "lead@team.example: Cancelled",
        "partner@team.example: Cancelled",
    ]


async def test_a_reassigned_booking_goes_to_the_new_member_and_is_withdrawn_from_the_other(
    delivery: Delivery,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    first, second = member("first"), member("second")
    booking = Booking(now + timedelta(days=3), specialist=first)
    await delivery.consumer.send(booking.confirmed(now))
    await delivery.dispatch(now + timedelta(seconds=1))

    reassigned = booking.reassigned(now + MINUTE, second)
    await delivery.consumer.send(reassigned, booking.again(reassigned))
    await delivery.dispatch(now + 2 * MINUTE)

    assert delivery.subjects(booking) == [
        "ada@client.example: Booked",
        "ada@client.example: Now with Dr. Second",  # the time unchanged, the host not
        "first@team.example: Cancelled",
        "first@team.example: New booking",
        "second@team.example: New booking",
    ]
    withdrawn = next(m for m in delivery.mails(booking) if m["subject"].startswith("Cancelled"))
    assert "Reassigned to another member of the team" in withdrawn["text"]
    for mail in delivery.mails(booking):
        if mail["to"] != ["ada@client.example"] and "v1" in mail["message_id"]:
            ics = delivery.fakes.mail.get_bytes(mail["attachments"][0]["url"])
            assert Calendar.from_ical(ics).events[0]["SEQUENCE"] == 1

    # The specialist's reminders go to the new member only.
    await delivery.dispatch(booking.starts_at - timedelta(minutes=14))
    last = sorted(m["to"][0] for m in delivery.mails(booking) if "15 minutes" in m["subject"])
    assert last == ["ada@client.example", "second@team.example"]


async def test_a_booking_reassigned_before_its_confirmation_went_out_still_reaches_the_client(
    delivery: Delivery,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    first, second = member("first"), member("second")
    booking = Booking(now + timedelta(days=3), specialist=first)
    confirmed = booking.confirmed(now)
    reassigned = booking.reassigned(now + MINUTE, second)
    # Both events are applied before the dispatcher runs: the confirmation recorded for
    # the first version is about a booking that has moved on and is dropped, so the
    # client learns of it from the reassignment's message, invite attached.
    await delivery.consumer.send(confirmed, reassigned, booking.again(reassigned))
    await delivery.dispatch(now + 2 * MINUTE)

    to_client = [m for m in delivery.mails(booking) if m["to"] == ["ada@client.example"]]
    assert [m["subject"].split(":")[0] for m in to_client] == ["Now with Dr. Second"]
    (attachment,) = to_client[0]["attachments"]
    ics = Calendar.from_ical(delivery.fakes.mail.get_bytes(attachment["url"]))
    assert "second@team.example" in str(ics.events[0]["ORGANIZER"])
