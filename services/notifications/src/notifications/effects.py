"""What the notifications dispatcher does with each effect the handlers recorded: the
re-check just before it fires, and the send.

Each message is built when it is sent, from the booking as it stands then (its row in
`notification_bookings`), and dated with the effect's due time, so a repeat after a
crash is the same message with the same Message-ID. The re-checks drop what no
longer makes sense: a message about a version of the booking that has since moved
on, a reminder of a booking that is no longer confirmed or has already started.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg_pool import ConnectionPool

from kairos.effects import Effect, EffectHandler
from kairos.privacy import PersonalData, Revealer
from kairos.providers.push import OutgoingPush, SubscriptionGone
from kairos.providers.sms import OutgoingSms
from notifications.appointment import Appointment, LinkIssuer, Links, Terms, appointment_of
from notifications.channels import Channels
from notifications.consumers import NOTICE, REMINDERS, Notice, Reminder
from notifications.contacts import contact_of, fetch_keys
from notifications.invite import invite
from notifications.messages import MessageKind, MessageOptions, compose, short_text
from notifications.metrics import sending
from notifications.schedule import Recipient
from notifications.tables import (
    BookingRow,
    booking_row,
    push_owner,
    push_subscriptions,
    remove_push_subscription,
    terms_of,
    video_room,
)
from notifications.video_rooms import with_room

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Notifier:
    """Builds and sends the messages of the effects, through `channels`."""

    pool: ConnectionPool
    channels: Channels
    links: LinkIssuer
    personal: PersonalData  # opens the contact details, one revealer per message
    sender: str  # the From of every e-mail
    clock: Clock = _utc_now
    # What the re-check of this thread's effect read, for its send that follows at once
    # in the same thread (the dispatcher calls them in turn): the booking row, the
    # service's terms and the revealer, whose keys live no longer than this one message.
    # The send then asks the database nothing more.
    _checked: threading.local = field(default_factory=threading.local, init=False, repr=False)

    def handlers(self) -> list[EffectHandler[Any]]:
        """The dispatcher's handlers: one for the notices, one per reminder channel."""
        reminders: list[EffectHandler[Any]] = [
            EffectHandler(REMINDERS["email"], self.send_email_reminder, self.reminder_still_due),
            EffectHandler(REMINDERS["sms"], self.send_sms_reminder, self.reminder_still_due),
            EffectHandler(REMINDERS["push"], self.send_push_reminder, self.reminder_still_due),
        ]
        return [EffectHandler(NOTICE, self.send_notice, self.notice_still_due), *reminders]

    def _reachable(
        self,
        conn: psycopg.Connection[Any],
        effect: Effect[Any],
        row: BookingRow,
        recipient: Recipient,
    ) -> bool:
        """The recipient was not erased: an erased person has no one to send to."""
        revealer = self.personal.revealer()
        fetch_keys(row.snapshot, revealer)
        terms = terms_of(conn, row.snapshot.service.service_id)
        self._checked.last = (effect.id, row, terms, revealer)
        return not contact_of(row.snapshot, recipient, revealer).erased

    def notice_still_due(self, conn: psycopg.Connection[Any], effect: Effect[Notice]) -> bool:
        """Only a message about the booking as it still is (one recorded before a
        reschedule or cancel would show a time or an invite that no longer holds), to a
        person who was not erased."""
        row = _addressed(booking_row(conn, effect.data.booking_id), effect.data)
        return (
            row is not None
            and row.sequence == effect.data.version
            and self._reachable(conn, effect, row, effect.data.recipient)
        )

    def reminder_still_due(self, conn: psycopg.Connection[Any], effect: Effect[Reminder]) -> bool:
        """Only for a booking still confirmed at the time it was scheduled for, and not
        yet begun (a dispatcher that was down does not send "starts in 1 hour" late), to
        a person who was not erased."""
        row = _addressed(booking_row(conn, effect.data.booking_id), effect.data)
        return (
            row is not None
            and row.status == "confirmed"
            and row.sequence == effect.data.version
            and self.clock() < row.snapshot.starts_at
            and self._reachable(conn, effect, row, effect.data.recipient)
        )

    def _load(self, effect: Effect[Notice] | Effect[Reminder]) -> tuple[BookingRow, Appointment]:
        booking_id = effect.data.booking_id
        checked, self._checked.last = getattr(self._checked, "last", None), None
        if checked is not None and checked[0] == effect.id:
            _, row, terms, revealer = checked
        else:
            row, terms, revealer = self._read(effect.data)
        return row, appointment_of(booking_id, row.snapshot, terms, revealer)

    def _read(self, data: Notice | Reminder) -> tuple[BookingRow, Terms, Revealer]:
        """What a message is built from, when no re-check just read it."""
        booking_id = data.booking_id
        with self.pool.connection() as conn:
            row = _addressed(booking_row(conn, booking_id), data)
            if row is None:
                raise LookupError(f"booking {booking_id} (or its addressee) is not known here")
            terms = terms_of(conn, row.snapshot.service.service_id)
        return row, terms, self.personal.revealer()

    def send_notice(self, effect: Effect[Notice]) -> None:
        notice = effect.data
        row, appointment = self._load(effect)
        links = self._links(notice.booking_id, notice.recipient)
        ics = None
        if notice.invite is not None:
            ics = invite(
                appointment,
                notice.invite,
                sequence=notice.version,
                stamp=effect.due_at,
                links=links if notice.invite != "CANCEL" else None,
            )
        options = MessageOptions(
            reason=row.reason,
            previous_starts_at=row.previous_starts_at,
            notice=appointment.terms.no_show_notice if notice.message == "no_show_notice" else None,
        )
        self._mail(effect, notice.message, appointment, notice.recipient, links, options, ics)

    def _mail(
        self,
        effect: Effect[Any],
        message: MessageKind,
        appointment: Appointment,
        recipient: Recipient,
        links: Links,
        options: MessageOptions,
        invite: bytes | None = None,
    ) -> None:
        """Send one e-mail, dated when it was due: a repeat is the very same message."""
        mail = compose(
            message,
            appointment,
            recipient,
            links,
            version=effect.data.version,
            sender=self.sender,
            date=effect.due_at,
            invite=invite,
            options=options,
        )
        with sending("email", effect.due_at, self.clock):
            self.channels.mail.send(mail)

    def _reminder(self, effect: Effect[Reminder]) -> tuple[BookingRow, Appointment, Links]:
        row, appointment = self._load(effect)
        return row, appointment, self._links(effect.data.booking_id, effect.data.recipient)

    def _links(self, booking_id: UUID, recipient: Recipient) -> Links:
        """The recipient's links (from booking) as the booking's video room stands."""
        with self.pool.connection() as conn:
            room = video_room(conn, booking_id)
        return with_room(self.links.links_for(booking_id, recipient), room)

    @staticmethod
    def _options(reminder: Reminder) -> MessageOptions:
        return MessageOptions(
            reminder_before=reminder.before, with_join_link=reminder.with_join_link
        )

    def send_email_reminder(self, effect: Effect[Reminder]) -> None:
        reminder = effect.data
        _, appointment, links = self._reminder(effect)
        self._mail(
            effect, "reminder", appointment, reminder.recipient, links, self._options(reminder)
        )

    def send_sms_reminder(self, effect: Effect[Reminder]) -> None:
        reminder = effect.data
        _, appointment, links = self._reminder(effect)
        phone = appointment.person(reminder.recipient).contact.phone
        if phone is None:
            return  # no number to text: the e-mail and push reminders still go
        body = short_text(
            "reminder", appointment, reminder.recipient, links, self._options(reminder)
        )
        with sending("sms", effect.due_at, self.clock):
            self.channels.sms.send(OutgoingSms(to=phone, body=body, idempotency_key=str(effect.id)))

    def send_push_reminder(self, effect: Effect[Reminder]) -> None:
        reminder = effect.data
        row, appointment, links = self._reminder(effect)
        options = self._options(reminder)
        payload = json.dumps(
            {
                "title": appointment.service_name,
                "body": short_text("reminder", appointment, reminder.recipient, links, options),
                "url": links.join if reminder.with_join_link and links.join else links.manage,
                "booking_id": str(reminder.booking_id),
            }
        ).encode()
        owner = push_owner(row.snapshot, reminder.booking_id, reminder.recipient)
        with self.pool.connection() as conn:
            subscriptions = push_subscriptions(conn, owner)
        for subscription_id, subscription in subscriptions:
            try:
                with sending("push", effect.due_at, self.clock):
                    self.channels.push.send(
                        OutgoingPush(subscription, payload, idempotency_key=str(effect.id))
                    )
            except SubscriptionGone:
                # The browser unsubscribed or the subscription expired: forget it.
                with self.pool.connection() as conn:
                    remove_push_subscription(conn, subscription_id)


def _addressed(row: BookingRow | None, data: Notice | Reminder) -> BookingRow | None:
    """The booking as its message's addressee reads it (BookingRow.addressed)."""
    return row.addressed(data.specialist_id) if row is not None else None
