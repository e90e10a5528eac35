"""What the notifications dispatcher does with the effects the handlers recorded: the
re-check just before they fire, and the send.

The dispatcher hands over all the effects of a kind it claimed together (up to 100):
their bookings, terms, video rooms, both people's keys and the clients' manage tokens
(one call to booking) are read in one go just before sending, and a batch's e-mails
go to the mailer together, which sends them over its several SMTP connections at once
(bench/notifications.py measured this). Each message is built when it is sent, from
the booking as it stands then (its row in `notification_bookings`), and dated with
the effect's due time, so a repeat after a crash is the same message with the same
Message-ID. The re-checks drop what no longer makes sense: a message about a version
of the booking that has since moved on, a reminder of a booking that is no longer
confirmed or has already started, a message to a person who was erased.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar
from uuid import UUID

from psycopg_pool import ConnectionPool

from kairos.effects import AnyEffectHandler, BatchEffectHandler, BatchOutcome, Effect
from kairos.privacy import PersonalData, Revealer
from kairos.providers.mail import OutgoingMail, send_all
from kairos.providers.push import OutgoingPush, SubscriptionGone
from kairos.providers.sms import OutgoingSms
from notifications.appointment import (
    Appointment,
    IssuedLinks,
    LinkIssuer,
    Links,
    Terms,
    appointment_of,
)
from notifications.channels import Channels
from notifications.consumers import NOTICE, REMINDERS, Notice, Reminder
from notifications.contacts import contact_of, fetch_keys
from notifications.invite import invite
from notifications.messages import MessageKind, MessageOptions, compose, short_text
from notifications.metrics import sending, sent_together
from notifications.tables import (
    BookingRow,
    VideoRoom,
    booking_rows,
    push_owner,
    push_subscriptions,
    remove_push_subscription,
    terms_of_services,
    video_rooms,
)
from notifications.video_rooms import with_room

Clock = Callable[[], datetime]
M = TypeVar("M", Notice, Reminder)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class _Batch:
    """What the messages of one claimed batch are built from, read together just before
    they are sent: the bookings as they stand, their services' terms and video rooms,
    the recipients' links (with the clients' current manage tokens), and the revealer,
    whose keys live no longer than this batch."""

    rows: dict[UUID, BookingRow]
    terms: dict[UUID, Terms]
    rooms: dict[UUID, VideoRoom]
    links: IssuedLinks
    revealer: Revealer

    def appointment(self, row: BookingRow) -> Appointment:
        terms = self.terms[row.snapshot.service.service_id]
        return appointment_of(row.booking_id, row.snapshot, terms, self.revealer)


@dataclass(frozen=True)
class Notifier:
    """Re-checks, builds and sends the messages of the effects, through `channels`, a
    claimed batch at a time: one read of the database and the key store for the whole
    batch, and its e-mails sent together (over the mailer's connections)."""

    pool: ConnectionPool
    channels: Channels
    links: LinkIssuer
    personal: PersonalData  # opens the contact details, one revealer per batch
    sender: str  # the From of every e-mail
    clock: Clock = _utc_now

    def handlers(self) -> list[AnyEffectHandler]:
        """The dispatcher's handlers: one for the notices, one per reminder channel."""
        return [
            BatchEffectHandler(NOTICE, self.send_notices),
            BatchEffectHandler(REMINDERS["email"], self.send_email_reminders),
            BatchEffectHandler(REMINDERS["sms"], self.send_sms_reminders),
            BatchEffectHandler(REMINDERS["push"], self.send_push_reminders),
        ]

    def _read(self, effects: Sequence[Effect[Notice]] | Sequence[Effect[Reminder]]) -> _Batch:
        booking_ids = {effect.data.booking_id for effect in effects}
        with self.pool.connection() as conn, conn.transaction():
            rows = booking_rows(conn, booking_ids)
            services = {row.snapshot.service.service_id for row in rows.values()}
            terms = terms_of_services(conn, services)
            rooms = video_rooms(conn, booking_ids)
        # A booking booking does not know (any more) has no token: its client's message
        # fails alone when it is built (LookupError), as it would on its own.
        links = self.links.links_of(
            (effect.data.booking_id, effect.data.recipient)
            for effect in effects
            if effect.data.booking_id in rows
        )
        revealer = self.personal.revealer()
        fetch_keys(revealer, *(row.snapshot for row in rows.values()))
        return _Batch(rows, terms, rooms, links, revealer)

    @staticmethod
    def _reachable(
        effect: Effect[Notice] | Effect[Reminder], row: BookingRow, batch: _Batch
    ) -> bool:
        """The recipient was not erased: an erased person has no one to send to."""
        return not contact_of(row.snapshot, effect.data.recipient, batch.revealer).erased

    def _notice_still_due(self, effect: Effect[Notice], batch: _Batch) -> BookingRow | None:
        """Only a message about the booking as it still is (one recorded before a
        reschedule or cancel would show a time or an invite that no longer holds), to a
        person who was not erased: the booking row to build it from, else None."""
        row = _addressed(batch.rows.get(effect.data.booking_id), effect.data)
        if row is None or row.sequence != effect.data.version:
            return None
        return row if self._reachable(effect, row, batch) else None

    def _reminder_still_due(self, effect: Effect[Reminder], batch: _Batch) -> BookingRow | None:
        """Only for a booking still confirmed at the time it was scheduled for, and not
        yet begun (a dispatcher that was down does not send "starts in 1 hour" late), to
        a person who was not erased."""
        row = _addressed(batch.rows.get(effect.data.booking_id), effect.data)
        if (
            row is None
            or row.status != "confirmed"
            or row.sequence != effect.data.version
            or self.clock() >= row.snapshot.starts_at
        ):
            return None
        return row if self._reachable(effect, row, batch) else None

    def _links(self, booking_id: UUID, recipient: str, batch: _Batch) -> Links:
        """The recipient's links (from booking) as the booking's video room stands."""
        return with_room(batch.links.links_for(booking_id, recipient), batch.rooms.get(booking_id))

    def send_notices(self, effects: Sequence[Effect[Notice]]) -> list[BatchOutcome]:
        return self._mail_all(effects, self._notice_still_due, self._notice_mail)

    def send_email_reminders(self, effects: Sequence[Effect[Reminder]]) -> list[BatchOutcome]:
        return self._mail_all(effects, self._reminder_still_due, self._reminder_mail)

    def _mail_all(
        self,
        effects: Sequence[Effect[M]],
        still_due: Callable[[Effect[M], _Batch], BookingRow | None],
        build: Callable[[Effect[M], BookingRow, _Batch], OutgoingMail],
    ) -> list[BatchOutcome]:
        """Re-check and build each e-mail, then send those still due together."""
        batch = self._read(effects)
        outcomes: list[BatchOutcome] = [False] * len(effects)
        mails: list[tuple[int, OutgoingMail]] = []
        for index, effect in enumerate(effects):
            try:
                if (row := still_due(effect, batch)) is not None:
                    mails.append((index, build(effect, row, batch)))
            except Exception as exc:
                outcomes[index] = exc
        due = [effects[index].due_at for index, _ in mails]
        with sent_together("email", due, self.clock) as results:
            results.extend(send_all(self.channels.mail, [mail for _, mail in mails]))
        for (index, _), failed in zip(mails, results, strict=True):
            outcomes[index] = True if failed is None else failed
        return outcomes

    def _notice_mail(self, effect: Effect[Notice], row: BookingRow, batch: _Batch) -> OutgoingMail:
        notice = effect.data
        appointment = batch.appointment(row)
        links = self._links(notice.booking_id, notice.recipient, batch)
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
        return self._compose(effect, notice.message, appointment, links, options, ics)

    def _reminder_mail(
        self, effect: Effect[Reminder], row: BookingRow, batch: _Batch
    ) -> OutgoingMail:
        reminder = effect.data
        links = self._links(reminder.booking_id, reminder.recipient, batch)
        options = self._options(reminder)
        return self._compose(effect, "reminder", batch.appointment(row), links, options)

    def _compose(
        self,
        effect: Effect[Notice] | Effect[Reminder],
        message: MessageKind,
        appointment: Appointment,
        links: Links,
        options: MessageOptions,
        invite: bytes | None = None,
    ) -> OutgoingMail:
        """One e-mail, dated when it was due: a repeat is the very same message."""
        return compose(
            message,
            appointment,
            effect.data.recipient,
            links,
            version=effect.data.version,
            sender=self.sender,
            date=effect.due_at,
            invite=invite,
            options=options,
            member=effect.data.specialist_id,
        )

    @staticmethod
    def _options(reminder: Reminder) -> MessageOptions:
        return MessageOptions(
            reminder_before=reminder.before, with_join_link=reminder.with_join_link
        )

    def send_sms_reminders(self, effects: Sequence[Effect[Reminder]]) -> list[BatchOutcome]:
        return self._each(effects, self._send_sms)

    def send_push_reminders(self, effects: Sequence[Effect[Reminder]]) -> list[BatchOutcome]:
        return self._each(effects, self._send_push)

    def _each(
        self,
        effects: Sequence[Effect[Reminder]],
        send: Callable[[Effect[Reminder], BookingRow, _Batch], None],
    ) -> list[BatchOutcome]:
        """Re-check and send each reminder of the batch in turn (one provider call each)."""
        batch = self._read(effects)
        outcomes: list[BatchOutcome] = []
        for effect in effects:
            try:
                if (row := self._reminder_still_due(effect, batch)) is None:
                    outcomes.append(False)
                    continue
                send(effect, row, batch)
            except Exception as exc:
                outcomes.append(exc)
            else:
                outcomes.append(True)
        return outcomes

    def _send_sms(self, effect: Effect[Reminder], row: BookingRow, batch: _Batch) -> None:
        reminder = effect.data
        appointment = batch.appointment(row)
        phone = appointment.person(reminder.recipient).contact.phone
        if phone is None:
            return  # no number to text: the e-mail and push reminders still go
        links = self._links(reminder.booking_id, reminder.recipient, batch)
        body = short_text(
            "reminder", appointment, reminder.recipient, links, self._options(reminder)
        )
        with sending("sms", effect.due_at, self.clock):
            self.channels.sms.send(OutgoingSms(to=phone, body=body, idempotency_key=str(effect.id)))

    def _send_push(self, effect: Effect[Reminder], row: BookingRow, batch: _Batch) -> None:
        reminder = effect.data
        appointment = batch.appointment(row)
        links = self._links(reminder.booking_id, reminder.recipient, batch)
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
