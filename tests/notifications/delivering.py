"""The notifications consumer and dispatcher sending through the real channels into the
dev fakes (SMTP sink, Twilio API, push service): the `delivery` fixture."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from psycopg_pool import ConnectionPool
from py_vapid import Vapid
from pydantic import SecretStr

from kairos.effects import EffectDispatcher, EffectHandler
from kairos.smtp import SmtpMailer
from notifications.channels import Channels
from notifications.channels.push import VapidPushSender
from notifications.channels.sms import TwilioSms
from notifications.config import ChannelSettings
from notifications.effects import Notifier
from tests.notifications.bookings import Booking
from tests.notifications.fakes import Fake, run_fake, smtp_sink
from tests.notifications.running import Consumer
from tests.notifications.samples import FixedLinks, personal_data

TWILIO_TOKEN = "test-twilio-token-0123456789abcdef"


@dataclass
class Clock:
    """The dispatcher's and the re-checks' now, moved by the test."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now


@dataclass(frozen=True)
class Fakes:
    mail: Fake
    sms: Fake
    push: Fake


@contextmanager
def running_fakes() -> Iterator[Fakes]:
    with (
        smtp_sink() as mail,
        run_fake("twilio_api", "--auth-token", TWILIO_TOKEN) as sms,
        run_fake("web_push") as push,
    ):
        yield Fakes(mail, sms, push)


def channels(fakes: Fakes) -> Channels:
    vapid = Vapid()
    vapid.generate_keys()
    raw = vapid.private_key.private_numbers().private_value.to_bytes(32, "big")
    settings = ChannelSettings(
        twilio_account_sid="AC" + "1" * 32,
        twilio_auth_token=SecretStr(TWILIO_TOKEN),
        twilio_from="+15005550006",
        twilio_api_url=fakes.sms.url,
        vapid_private_key=SecretStr(base64.urlsafe_b64encode(raw).decode().rstrip("=")),
        vapid_subject="mailto:ops@kairos.example",
    )
    sms, push = TwilioSms.from_settings(settings), VapidPushSender.from_settings(settings)
    assert sms is not None and push is not None
    return Channels(SmtpMailer("127.0.0.1", fakes.mail.port, security="none"), sms, push)


@dataclass
class Delivery:
    consumer: Consumer
    fakes: Fakes
    clock: Clock
    notifier: Notifier

    async def dispatch(self, at: datetime, *more: EffectHandler[Any]) -> int:
        """Send everything due at `at` (the dispatcher's clock), as a running one would
        (with `more` handlers beside the notifier's)."""
        self.clock.now = at
        dispatcher = EffectDispatcher(
            self.consumer.database, [*self.notifier.handlers(), *more], clock=self.clock
        )
        with dispatcher:
            return await asyncio.to_thread(dispatcher.drain)

    def mails(self, booking: Booking) -> list[dict[str, Any]]:
        return [
            m
            for m in self.fakes.mail.messages("mail")
            if str(booking.id) in (m["message_id"] or "")
        ]

    def subjects(self, booking: Booking) -> list[str]:
        return sorted(f"{m['to'][0]}: {m['subject'].split(':')[0]}" for m in self.mails(booking))


@contextmanager
def delivering(consumer: Consumer, fakes: Fakes) -> Iterator[Delivery]:
    clock = Clock()
    with ConnectionPool(consumer.database, min_size=1, max_size=4) as pool:
        sending = channels(fakes)
        notifier = Notifier(
            pool,
            sending,
            FixedLinks(),
            personal_data(pool),
            "Kairos <no-reply@kairos.example>",
            clock,
        )
        yield Delivery(consumer, fakes, clock, notifier)
        assert isinstance(sending.mail, SmtpMailer)
        sending.mail.close()
