"""`python -m webhooks.consumer`: booking.events.v1 into deliveries, and the dispatcher
that sends them (kairos.messaging.runner); ops endpoints on CONSUMER_OPS_PORT."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, nullcontext
from datetime import datetime, timedelta

import httpx
from psycopg_pool import ConnectionPool

from kairos.effects.dispatcher import utc_now
from kairos.events import BOOKING_TOPIC
from kairos.messaging import ConsumerSpec, run_consumer
from kairos.privacy import PersonalData
from kairos.privacy.settings import key_store
from kairos.providers.smtp import SmtpMailer
from webhooks.config import DeliverySettings
from webhooks.consumers import CONSUMER, handlers
from webhooks.effects import Sender, Timing
from webhooks.notices import Notices
from webhooks.signing_secrets import secret_store
from webhooks.tables import create_tables
from webhooks.targets import TargetPolicy


def target_policy(settings: DeliverySettings) -> TargetPolicy:
    return TargetPolicy(
        allow_private=settings.webhook_allow_private_targets,
        require_https=settings.webhook_require_https,
    )


@contextmanager
def sender(settings: DeliverySettings, clock: Callable[[], datetime] = utc_now) -> Iterator[Sender]:
    """The Sender of these settings, with its pools and HTTP client open."""
    # httpx logs each request's URL at INFO: an endpoint's URL may carry its owner's token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    pool = ConnectionPool(
        settings.database_url, min_size=1, max_size=settings.webhook_concurrency + 1, open=False
    )
    privacy_pool, keys = key_store(settings, settings.webhook_concurrency + 1)
    secrets = secret_store(settings.database_url, settings.webhook_secret_keys.get_secret_value())
    timeout = httpx.Timeout(settings.webhook_timeout_seconds)
    limits = httpx.Limits(max_connections=settings.webhook_concurrency * 2)
    mailer = SmtpMailer.from_settings(settings) if settings.webhook_ops_email else None
    notices = None
    if mailer is not None and settings.mail_from and settings.webhook_ops_email:
        notices = Notices(pool, mailer, settings.mail_from, settings.webhook_ops_email, clock)
    with (
        pool,
        privacy_pool,
        httpx.Client(
            timeout=timeout,
            limits=limits,
            follow_redirects=False,
            verify=ssl.create_default_context(cafile=settings.webhook_ca_bundle or None),
        ) as http,
        closing(mailer) if mailer is not None else nullcontext(),
    ):
        secrets.create_table()
        yield Sender(
            pool,
            secrets,
            PersonalData(keys),
            target_policy(settings),
            http,
            Timing(
                retry_window=timedelta(hours=settings.webhook_retry_hours),
                disable_after=timedelta(hours=settings.webhook_disable_after_hours),
            ),
            clock,
            notices,
        )


def consumer_spec(settings: DeliverySettings, sending: Sender) -> ConsumerSpec:
    return ConsumerSpec(
        CONSUMER,
        BOOKING_TOPIC,
        handlers,
        effects=sending.handlers(),
        setup=create_tables,
        ops_port_env="CONSUMER_OPS_PORT",
        effect_concurrency=settings.webhook_concurrency,
    )


def main() -> None:
    settings = DeliverySettings()
    with sender(settings) as sending:
        run_consumer(consumer_spec(settings, sending), settings)


if __name__ == "__main__":
    main()
