"""Telling the operators that an endpoint was disabled: one e-mail to WEBHOOK_OPS_EMAIL
through the shared SMTP mailer (kairos.providers.smtp), recorded as an effect in the
transaction that disables the subscription, so it is sent once, after the commit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import psycopg
from psycopg_pool import ConnectionPool
from pydantic import BaseModel

from kairos.effects import Effect, EffectHandler, EffectKind, record_effect
from kairos.providers.mail import Mailer, OutgoingMail
from webhooks.tables import reason_of, subscription


class Disabled(BaseModel):
    subscription_id: UUID


DISABLED_NOTICE = EffectKind("webhooks.disabled_notice", Disabled)


def record_notice(conn: psycopg.Connection[Any], subscription_id: UUID, now: datetime) -> None:
    record_effect(
        conn,
        DISABLED_NOTICE,
        Disabled(subscription_id=subscription_id),
        key=f"{subscription_id}/{now.isoformat()}",
        reason=reason_of(subscription_id),
        due_at=now,
    )


class Notices:
    """Sends DISABLED_NOTICE effects from `sender` to `to`."""

    def __init__(
        self,
        pool: ConnectionPool[Any],
        mailer: Mailer,
        sender: str,
        to: str,
        clock: Callable[[], datetime],
    ) -> None:
        self._pool = pool
        self._mailer = mailer
        self._sender = sender
        self._to = to
        self._clock = clock

    def handler(self) -> EffectHandler[Disabled]:
        return EffectHandler(DISABLED_NOTICE, self.send)

    def send(self, effect: Effect[Disabled]) -> None:
        with self._pool.connection() as conn:
            found = subscription(conn, effect.data.subscription_id)
        if found is None:
            return  # deleted meanwhile: nothing to tell
        # The URL's host only: its path or query may carry the receiver's token.
        host = urlsplit(found.url).netloc.rpartition("@")[2]
        text = (
            f"The webhook subscription {found.id} ({found.description or 'no description'})"
            f" to {host} was disabled at {found.disabled_at:%Y-%m-%d %H:%M} UTC: its endpoint"
            f" has accepted no delivery since {found.failing_since:%Y-%m-%d %H:%M} UTC.\n\n"
            "Its unsent deliveries failed, and new events are not sent to it. Once the"
            " endpoint works again, enable it (POST /v1/webhooks/subscriptions/"
            f"{found.id}/enable) and resend the failed deliveries that matter; the"
            f" delivery log: GET /v1/webhooks/subscriptions/{found.id}/deliveries.\n"
        )
        self._mailer.send(
            OutgoingMail(
                message_id=f"<{effect.id}@kairos>",
                sender=self._sender,
                to=(self._to,),
                subject=f"Kairos: webhook endpoint {host} disabled",
                text=text,
                html=None,
                date=self._clock(),
            )
        )
