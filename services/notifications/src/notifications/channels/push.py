"""Web Push with VAPID (RFC 8292) and aes128gcm payloads (RFC 8291), with pywebpush.

The effect id, hashed to the 32 characters RFC 8030 allows, is the message's
`Topic`: a push service keeps only the newest undelivered message of a topic, so
a repeat after a crash does not show twice on a device that was offline.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

import requests
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from py_vapid import Vapid
from pywebpush import WebPushException, webpush

from kairos.providers.errors import DeliveryDeferred, http_failure
from kairos.providers.push import OutgoingPush, SubscriptionGone
from notifications.config import ChannelSettings


def push_topic(idempotency_key: str) -> str:
    """A Topic header value (at most 32 base64url characters) naming one effect."""
    digest = hashlib.sha256(idempotency_key.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()[:32]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@dataclass(frozen=True)
class VapidPushSender:
    """A `PushSender` signing as one application server (its VAPID key and subject)."""

    vapid: Vapid
    subject: str
    timeout: float = 10.0

    @classmethod
    def from_settings(cls, settings: ChannelSettings) -> VapidPushSender | None:
        if settings.vapid_private_key is None or settings.vapid_subject is None:
            return None
        vapid = Vapid.from_string(private_key=settings.vapid_private_key.get_secret_value())
        return cls(vapid, settings.vapid_subject, settings.provider_timeout_seconds)

    @property
    def public_key(self) -> str:
        """The `applicationServerKey` a browser subscribes with (GET /v1/push/vapid-public-key)."""
        raw = self.vapid.public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        return _b64url(raw)

    def send(self, push: OutgoingPush) -> None:
        subscription = push.subscription
        try:
            webpush(
                {
                    "endpoint": subscription.endpoint,
                    "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
                },
                data=push.payload.decode(),
                vapid_private_key=self.vapid,
                # A fresh dict each time: webpush writes `aud` and `exp` into it.
                vapid_claims={"sub": self.subject},
                content_encoding="aes128gcm",
                ttl=push.ttl_seconds,
                headers={"Topic": push_topic(push.idempotency_key), "Urgency": "high"},
                timeout=self.timeout,
            )
        except WebPushException as exc:
            status = exc.status_code
            if status in (404, 410):
                raise SubscriptionGone(f"push service answered {status}") from exc
            if status is None:
                raise DeliveryDeferred("push service gave no answer") from exc
            raise http_failure("push service", status) from exc
        except requests.RequestException as exc:
            raise DeliveryDeferred(f"push service unreachable: {type(exc).__name__}") from exc
