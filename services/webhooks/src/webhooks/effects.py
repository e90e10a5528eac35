"""Sending a delivery: the effect the dispatcher performs (kairos.effects), after the
consumer's commit, outside any transaction.

Each attempt resolves the subscription's URL and checks it again (webhooks.targets),
reveals the event's personal values (webhooks.payload), signs the body with the
subscription's secret (webhooks.signing) and POSTs it with the delivery's id. A 2xx
answer delivers it; anything else (another status, a timeout, a refused connection or
target) is a failed attempt, retried by the dispatcher with exponential backoff until the
delivery has been trying for WEBHOOK_RETRY_HOURS, then given up. An endpoint that has
accepted nothing for WEBHOOK_DISABLE_AFTER_HOURS is disabled: its unfinished deliveries
fail, no new ones are made, the admin sees it on the subscription and in the metrics,
and the operators get an e-mail (webhooks.notices) when WEBHOOK_OPS_EMAIL is set.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import psycopg
from prometheus_client import Counter, Histogram
from psycopg_pool import ConnectionPool

from kairos.effects import Backoff, Effect, EffectHandler, TransientEffectError
from kairos.events import Envelope
from kairos.privacy import PersonalData
from kairos.privacy.sealed_store import SealedStore
from webhooks import payload
from webhooks.notices import Notices, record_notice
from webhooks.signing import DELIVERY_HEADER, SIGNATURE_HEADER, signature
from webhooks.tables import SEND, Delivery, Send, delivery, envelope_of, start_next, subscription
from webhooks.targets import TargetPolicy, TargetRefused, TargetUnresolved

log = logging.getLogger("webhooks")

#: 30 s, 1 min, 2 min … doubling to 6 h between attempts (half of each step random):
#: about 25 attempts in the 72 hours a delivery keeps trying.
RETRY_BACKOFF = Backoff(base=timedelta(seconds=30), cap=timedelta(hours=6))
# The retry window, not a count, ends a delivery; this only stops a runaway.
MAX_ATTEMPTS = 100
# The longest Retry-After a receiver may ask for.
MAX_RETRY_AFTER = timedelta(hours=6)

ATTEMPTS = Counter(
    "kairos_webhooks_attempts_total",
    "Delivery attempts by outcome: delivered, failed (to be retried), given_up",
    ["outcome"],
)
DISABLED = Counter(
    "kairos_webhooks_endpoints_disabled_total",
    "Subscriptions disabled because their endpoint accepted nothing for too long",
)
LATENCY = Histogram(
    "kairos_webhooks_delivery_seconds",
    "From the event to its receiver's 2xx, for deliveries accepted at the first attempt",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


@dataclass(frozen=True)
class Attempt:
    """What one POST came to: the receiver's status, or why there was none."""

    status: int | None
    error: str | None = None
    retry_after: timedelta | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True)
class Timing:
    retry_window: timedelta
    disable_after: timedelta


class Sender:
    """Performs SEND effects. `clock` is the dispatcher's, so tests can move time."""

    def __init__(
        self,
        pool: ConnectionPool[Any],
        secrets: SealedStore,
        personal: PersonalData,
        policy: TargetPolicy,
        http: httpx.Client,
        timing: Timing,
        clock: Callable[[], datetime],
        notices: Notices | None = None,
    ) -> None:
        self._pool = pool
        self._notices = notices
        self._secrets = secrets
        # Opened secrets by subscription: a secret never changes (a new one is a new
        # subscription), and opening costs a connection of its own.
        self._opened: dict[UUID, str] = {}
        self._personal = personal
        self._policy = policy
        self._http = http
        self._timing = timing
        self._clock = clock

    def handlers(self) -> list[EffectHandler[Any]]:
        """What the dispatcher performs: the sends, and the operators' notices if any."""
        send = EffectHandler(
            SEND, self.perform, still_wanted, max_attempts=MAX_ATTEMPTS, backoff=RETRY_BACKOFF
        )
        return [send] + ([self._notices.handler()] if self._notices else [])

    def perform(self, effect: Effect[Send]) -> None:
        with self._pool.connection() as conn:
            found = delivery(conn, effect.data.delivery_id)
            if found is None:
                return  # its subscription was deleted meanwhile
            envelope = envelope_of(conn, found.id)
            target = subscription(conn, found.subscription_id)
        if target is None:
            return
        attempt = self.attempt(target.url, found, self._secret(target.id), envelope)
        if not self._record(found, envelope, attempt):
            raise TransientEffectError(attempt.error or "", retry_after=attempt.retry_after)

    def _secret(self, subscription_id: UUID) -> str:
        if subscription_id not in self._opened:
            values = self._secrets.get(subscription_id)
            if values is None:
                raise LookupError(f"subscription {subscription_id} has no signing secret")
            self._opened[subscription_id] = values["secret"]
        return self._opened[subscription_id]

    def attempt(self, url: str, found: Delivery, secret: str, envelope: Envelope) -> Attempt:
        """POST the delivery once."""
        try:
            target = self._policy.resolve(url)
        except (TargetRefused, TargetUnresolved) as refused:
            return Attempt(None, str(refused))
        body = payload.body(envelope, self._personal)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Kairos-Webhooks/1",
            "Host": target.host,
            SIGNATURE_HEADER: signature(secret, int(self._clock().timestamp()), body),
            DELIVERY_HEADER: str(found.id),
        }
        # Connect to the address that was checked; TLS still verifies the URL's name.
        extensions = {"sni_hostname": target.server_name} if url.startswith("https:") else {}
        try:
            response = self._http.post(
                target.url, content=body, headers=headers, extensions=extensions
            )
        except httpx.HTTPError as failed:
            return Attempt(None, f"{type(failed).__name__}: {failed}"[:500])
        if 200 <= response.status_code < 300:
            return Attempt(response.status_code)
        return Attempt(
            response.status_code,
            f"the receiver answered {response.status_code}",
            _retry_after(response.headers.get("retry-after")),
        )

    def _record(self, found: Delivery, envelope: Envelope, attempt: Attempt) -> bool:
        """Record the attempt; False when the delivery is to be tried again."""
        now = self._clock()
        with self._pool.connection() as conn, conn.transaction():
            conn.execute(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, last_status = %s,"
                " last_error = %s WHERE id = %s",
                (attempt.status, attempt.error, found.id),
            )
            if attempt.delivered:
                self._delivered(conn, found, now)
                if found.attempts == 0:
                    LATENCY.observe((now - envelope.occurred_at).total_seconds())
                ATTEMPTS.labels("delivered").inc()
                return True
            (failing_since,) = conn.execute(
                "UPDATE webhook_subscriptions SET failing_since = COALESCE(failing_since, %s)"
                " WHERE id = %s RETURNING failing_since",
                (now, found.subscription_id),
            ).fetchone() or (now,)
            if now - failing_since >= self._timing.disable_after:
                disable(conn, found.subscription_id, now, notify=self._notices is not None)
                ATTEMPTS.labels("given_up").inc()
                return True
            sending_since = found.sending_since or found.created_at
            if now - sending_since >= self._timing.retry_window:
                _finish(conn, found, "failed", now)
                ATTEMPTS.labels("given_up").inc()
                return True
        ATTEMPTS.labels("failed").inc()
        return False

    def _delivered(self, conn: psycopg.Connection[Any], found: Delivery, now: datetime) -> None:
        _finish(conn, found, "delivered", now)
        conn.execute(
            "UPDATE webhook_subscriptions SET last_success_at = %s, failing_since = NULL"
            " WHERE id = %s",
            (now, found.subscription_id),
        )


def still_wanted(conn: psycopg.Connection[Any], effect: Effect[Send]) -> bool:
    """Send only a delivery still waiting for this very effect (not one finished, resent
    under a newer effect, failed with its disabled endpoint, or deleted)."""
    found = delivery(conn, effect.data.delivery_id)
    return found is not None and found.state == "pending" and found.effect_id == effect.id


def disable(
    conn: psycopg.Connection[Any], subscription_id: UUID, now: datetime, *, notify: bool
) -> None:
    """Disable the subscription: its unfinished deliveries fail, no new ones are made; with
    `notify`, the operators' e-mail is recorded to go after the commit."""
    disabled = conn.execute(
        "UPDATE webhook_subscriptions SET state = 'disabled', disabled_at = %s"
        " WHERE id = %s AND state = 'active'",
        (now, subscription_id),
    ).rowcount
    conn.execute(
        "UPDATE webhook_deliveries SET state = 'failed', finished_at = %s,"
        " last_error = coalesce(last_error, 'the endpoint was disabled')"
        " WHERE subscription_id = %s AND state IN ('queued', 'pending')",
        (now, subscription_id),
    )
    if disabled:
        DISABLED.inc()
        if notify:
            record_notice(conn, subscription_id, now)
        # The id only: an endpoint's URL may carry a token of the receiver's.
        log.warning("webhook subscription %s disabled: its endpoint kept failing", subscription_id)


def _finish(conn: psycopg.Connection[Any], found: Delivery, state: str, now: datetime) -> None:
    conn.execute(
        "UPDATE webhook_deliveries SET state = %s, finished_at = %s WHERE id = %s",
        (state, now, found.id),
    )
    start_next(conn, found.subscription_id, found.booking_id, now=now)


def _retry_after(value: str | None) -> timedelta | None:
    """A Retry-After in seconds (the HTTP-date form is rare from receivers: ignored)."""
    if value is None or not value.strip().isdigit():
        return None
    return min(timedelta(seconds=int(value.strip())), MAX_RETRY_AFTER)
