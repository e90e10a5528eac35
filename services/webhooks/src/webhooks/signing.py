"""The signature a receiver checks (docs/webhooks.md), as Stripe's: the header
`Kairos-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.

The timestamp is signed with the body, so a receiver that refuses old timestamps
(five minutes is the usual tolerance) cannot be replayed a captured delivery later.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SIGNATURE_HEADER = "Kairos-Signature"
DELIVERY_HEADER = "Kairos-Delivery"
SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A subscription's signing secret: 256 random bits, shown to the admin once."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The Kairos-Signature header's value for `body` sent at `timestamp`."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
