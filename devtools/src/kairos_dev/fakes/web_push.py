"""A fake Web Push service that decrypts what it receives, as a browser would.

    python -m kairos_dev.fakes.web_push --port 8027

It plays both ends a real push needs besides the sender: the browser, which makes a
subscription (`POST /dev/push/subscriptions` → `{id, endpoint, keys: {p256dh,
auth}}`, keeping the private key), and the push service at that endpoint, which
checks the VAPID signature (RFC 8292: ES256 JWT, audience = this service's origin,
not expired) and decrypts the aes128gcm payload (RFC 8291) with the
subscription's keys. A message with the `Topic` of one already held replaces it,
as RFC 8030 §5.4 says. `DELETE /dev/push/subscriptions/{id}` expires a subscription
(later pushes get 410 Gone). `GET /dev/push/messages` lists what arrived.
"""

from __future__ import annotations

import base64
import itertools
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import http_ece
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from kairos_dev.fakes.recorded import Recorded
from kairos_dev.fakes.server import app_with_health, arguments, message_routes, serve


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Subscription:
    id: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes
    expired: bool = False

    @property
    def p256dh(self) -> str:
        public = self.private_key.public_key()
        return b64url(public.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint))

    def as_json(self) -> dict[str, Any]:
        """What PushSubscription.toJSON() gives a browser's script."""
        return {
            "id": self.id,
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": self.p256dh, "auth": b64url(self.auth)},
        }


@dataclass(frozen=True)
class PushMessage:
    id: int
    subscription_id: str
    payload: str
    topic: str | None
    ttl: int
    urgency: str
    vapid_subject: str
    replaced: int = 0  # how many undelivered messages of its topic it replaced
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subscription_id": self.subscription_id,
            "payload": self.payload,
            "topic": self.topic,
            "ttl": self.ttl,
            "urgency": self.urgency,
            "vapid_subject": self.vapid_subject,
            "replaced": self.replaced,
            "date": self.received_at.isoformat().replace("+00:00", "Z"),
        }


class VapidError(ValueError):
    pass


def check_vapid(authorization: str, audience: str) -> str:
    """The `sub` of a valid VAPID Authorization header (`vapid t=<jwt>, k=<key>`)."""
    scheme, _, rest = authorization.partition(" ")
    if scheme.lower() != "vapid":
        raise VapidError("expected the vapid scheme (RFC 8292)")
    parts = dict(part.strip().split("=", 1) for part in rest.split(",") if "=" in part)
    if "t" not in parts or "k" not in parts:
        raise VapidError("vapid needs t and k")
    try:
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(parts["k"]))
        claims = jwt.decode(
            parts["t"],
            key,
            algorithms=["ES256"],
            audience=audience,
            options={"require": ["exp", "sub", "aud"]},
        )
    except (ValueError, jwt.PyJWTError) as exc:
        raise VapidError(str(exc)) from exc
    if int(claims["exp"]) > time.time() + 24 * 3600:
        raise VapidError("exp is more than 24 hours ahead (RFC 8292 §2)")
    return str(claims["sub"])


def push_app(public_url: str) -> FastAPI:
    app = app_with_health("Kairos dev Web Push service")
    origin = public_url.rstrip("/")
    subscriptions: dict[str, Subscription] = {}
    messages: Recorded[PushMessage] = Recorded()
    ids = itertools.count(1)

    @app.post("/dev/push/subscriptions", status_code=201)
    def subscribe() -> dict[str, Any]:
        subscription_id = uuid4().hex
        subscription = Subscription(
            subscription_id,
            f"{origin}/push/{subscription_id}",
            ec.generate_private_key(ec.SECP256R1()),
            os.urandom(16),
        )
        subscriptions[subscription_id] = subscription
        return subscription.as_json()

    @app.delete("/dev/push/subscriptions/{subscription_id}", status_code=204)
    def expire(subscription_id: str) -> None:
        if subscription_id in subscriptions:
            subscriptions[subscription_id].expired = True

    @app.post("/push/{subscription_id}")
    async def push(subscription_id: str, request: Request) -> Response:
        subscription = subscriptions.get(subscription_id)
        if subscription is None:
            return JSONResponse({"error": "no such subscription"}, status_code=404)
        if subscription.expired:
            return JSONResponse({"error": "subscription expired"}, status_code=410)
        try:
            sender = check_vapid(request.headers.get("authorization", ""), origin)
        except VapidError as exc:
            return JSONResponse({"error": f"VAPID: {exc}"}, status_code=401)
        if request.headers.get("content-encoding") != "aes128gcm":
            return JSONResponse({"error": "only aes128gcm (RFC 8291)"}, status_code=415)
        try:
            plain = http_ece.decrypt(
                await request.body(),
                private_key=subscription.private_key,
                auth_secret=subscription.auth,
                version="aes128gcm",
            )
        except Exception as exc:  # http_ece raises bare exceptions for bad ciphertext
            return JSONResponse({"error": f"cannot decrypt: {exc}"}, status_code=400)
        topic = request.headers.get("topic")
        held = (
            messages.find(lambda m: m.subscription_id == subscription_id and m.topic == topic)
            if topic is not None
            else None
        )
        message = PushMessage(
            next(ids),
            subscription_id,
            plain.decode("utf-8", "replace"),
            topic,
            int(request.headers.get("ttl", "0")),
            request.headers.get("urgency", "normal"),
            sender,
            replaced=held.replaced + 1 if held is not None else 0,
        )
        if held is None:
            messages.add(message)
        else:
            messages.replace_first(lambda m: m is held, message)
        return Response(status_code=201, headers={"Location": f"/push/messages/{message.id}"})

    message_routes(app, "/dev/push/messages", messages)

    return app


def main() -> None:
    parser = arguments("A Web Push service that decrypts what it gets, listed at /dev/push")
    parser.add_argument(
        "--public-url", help="its origin as senders reach it (default: http://HOST:PORT)"
    )
    options = parser.parse_args()
    public_url = options.public_url or f"http://{options.host}:{options.port}"
    serve(push_app(public_url), options.host, options.port)


if __name__ == "__main__":
    main()
