"""`python -m notifications.worker`: the notifications consumer and its effect dispatcher.

Consumes booking.events.v1 through the shared runner (kairos.messaging.runner): the
handlers (notifications.consumers) record what must be sent in the consumer's
transaction, and the dispatcher sends it (notifications.effects) through the
channels configured in the environment. Several workers split the partitions, and
their dispatchers claim effects with leases, so each message goes once. Ops endpoints
on OPS_PORT: /readyz covers the database, the broker (the consumer is current) and
the SMTP server.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from kairos.events import BOOKING_TOPIC
from kairos.messaging import ConsumerSpec, run_consumer
from kairos.privacy import ErasureLedger, PersonalData
from kairos.privacy.settings import key_store
from kairos.providers.smtp import SmtpMailer
from kairos.web.health import Check
from notifications import erasure, tables
from notifications.channels import Channels, build_channels
from notifications.config import NotificationsSettings
from notifications.consumers import handlers
from notifications.effects import Notifier
from notifications.links import BookingLinks
from notifications.queue_metrics import register_queue_metrics

CONSUMER = "notifications"


def personal_data(settings: NotificationsSettings) -> tuple[ConnectionPool, PersonalData]:
    """The key store contact details are opened with (its pool, to open and close)."""
    pool, keys = key_store(settings, 4)
    return pool, PersonalData(keys)


def smtp_checks(channels: Channels) -> dict[str, Check]:
    """/readyz checks the SMTP server when e-mail is configured."""
    return {"smtp": channels.mail.check} if isinstance(channels.mail, SmtpMailer) else {}


def notifications_spec(
    settings: NotificationsSettings, pool: ConnectionPool, personal: PersonalData
) -> ConsumerSpec:
    channels = build_channels(settings)
    links = BookingLinks(settings.booking_client(), settings.public_url)
    sender = settings.mail_from or "Kairos <no-reply@localhost>"  # unset: e-mail is off
    notifier = Notifier(pool, channels, links, personal, sender)
    ledger = ErasureLedger(settings.privacy_database_url)

    def setup(conn: psycopg.Connection[Any]) -> None:
        tables.create_tables(conn)
        erasure.register(ledger)

    # One dispatcher thread (effect_concurrency 1): it claims 100 due effects at a time
    # and the Notifier sends a batch's e-mails together over SMTP_CONNECTIONS, which
    # the benchmark measured far faster than threads sending one each (the GIL).
    return ConsumerSpec(
        CONSUMER,
        BOOKING_TOPIC,
        handlers,
        effects=[*notifier.handlers(), erasure.report_handler(ledger)],
        setup=setup,
        checks=smtp_checks(channels),
    )


def main() -> None:
    settings = NotificationsSettings()
    pool = ConnectionPool(settings.database_url, min_size=1, max_size=8, open=False)
    key_pool, personal = personal_data(settings)
    with pool, key_pool:
        register_queue_metrics(settings.database_url)
        run_consumer(notifications_spec(settings, pool, personal), settings)


if __name__ == "__main__":
    main()
