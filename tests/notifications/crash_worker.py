"""A notifications dispatcher that hangs at a chosen point of sending one e-mail, for
the test to SIGKILL it there (tests/notifications/test_delivery.py).

    python -m tests.notifications.crash_worker DATABASE_URL SMTP_PORT before-send|after-send

`before-send`: it notes the Message-ID it is about to send, then hangs (nothing is
sent). `after-send`: the SMTP server accepts the e-mail, the worker notes its
Message-ID, then hangs before the dispatcher can record the effect as done.
"""

from __future__ import annotations

import sys
import threading
from datetime import timedelta

import psycopg
from psycopg_pool import ConnectionPool

from kairos.effects import EffectDispatcher
from kairos.providers.mail import OutgoingMail
from kairos.smtp import SmtpMailer
from notifications.channels import Channels, build_channels
from notifications.config import ChannelSettings
from notifications.effects import Notifier
from tests.notifications.samples import FixedLinks, personal_data

LEASE = timedelta(hours=1)
SENDER = "Kairos <no-reply@kairos.example>"


class HangingMailer:
    def __init__(self, url: str, smtp_port: int, point: str) -> None:
        self.url, self.point = url, point
        self.mailer = SmtpMailer("127.0.0.1", smtp_port, security="none")

    def send(self, mail: OutgoingMail) -> None:
        if self.point == "before-send":
            self.reach(mail)
        self.mailer.send(mail)
        if self.point == "after-send":
            self.reach(mail)

    def reach(self, mail: OutgoingMail) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("INSERT INTO reached VALUES (%s)", (mail.message_id,))
        threading.Event().wait()  # until killed


def main() -> None:
    url, smtp_port, point = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    unconfigured = build_channels(ChannelSettings(smtp_host=None, twilio_account_sid=None))
    channels = Channels(HangingMailer(url, smtp_port, point), unconfigured.sms, unconfigured.push)
    with ConnectionPool(url, min_size=1, max_size=2) as pool:
        notifier = Notifier(pool, channels, FixedLinks(), personal_data(pool), SENDER)
        # One effect at a time: the others stay for the successor.
        with EffectDispatcher(url, notifier.handlers(), "doomed", batch_size=1, lease=LEASE) as d:
            d.drain()


if __name__ == "__main__":
    main()
