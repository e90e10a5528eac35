"""Sending Web Push notifications: the `PushSender` Protocol and what it takes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from kairos.providers.errors import DeliveryRejected


@dataclass(frozen=True, repr=False)
class PushSubscription:
    """A browser's subscription (PushManager.subscribe): where to post, and the keys
    its payloads are encrypted for (RFC 8291)."""

    endpoint: str
    p256dh: str  # the user agent's public key, base64url
    auth: str  # the shared authentication secret, base64url

    def __repr__(self) -> str:
        return "PushSubscription(<personal data>)"


@dataclass(frozen=True, repr=False)
class OutgoingPush:
    """One notification. `idempotency_key` (the effect id) becomes its `Topic` (RFC 8030
    §5.4): a push service replaces an undelivered message with one of the same topic,
    so a repeat after a crash does not show twice on a device that was offline."""

    subscription: PushSubscription
    payload: bytes  # what the service worker receives, usually JSON
    idempotency_key: str
    ttl_seconds: int = 3600

    def __repr__(self) -> str:
        return f"OutgoingPush(idempotency_key={self.idempotency_key!r})"


class SubscriptionGone(DeliveryRejected):
    """The push service no longer knows the subscription (404/410): delete it."""


class PushSender(Protocol):
    """Hands an encrypted notification to the subscription's push service.

    Raises `DeliveryDeferred` when trying later may succeed (timeout, 429, 5xx),
    `SubscriptionGone` when the subscription expired or was revoked, and
    `DeliveryRejected` for any other refusal.
    """

    def send(self, push: OutgoingPush) -> None: ...
