"""Expiring signed links to a session's recording.

The recording itself stays in LiveKit egress's storage; the session shows a link to
`GET /v1/bookings/{id}/recording?expires=…&signature=…`, an HMAC-SHA256 of the booking
id and the expiry under RECORDING_LINK_SECRET. Whoever may see the session gets a fresh
link; a link forwarded on stops working when it expires.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from urllib.parse import urlencode
from uuid import UUID

from kairos.errors import KairosError
from video.integration import recording_path


class InvalidLink(KairosError):
    code = "invalid_link"
    status = 403


class LinkExpired(KairosError):
    code = "link_expired"
    status = 410


class RecordingLinks:
    def __init__(self, secret: str, ttl: timedelta) -> None:
        self._secret = secret.encode()
        self._ttl = ttl

    def _signature(self, booking_id: UUID, expires: int) -> str:
        message = f"recording:{booking_id}:{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def link(self, booking_id: UUID, now: datetime) -> str:
        expires = int((now + self._ttl).timestamp())
        query = urlencode({"expires": expires, "signature": self._signature(booking_id, expires)})
        return f"{recording_path(booking_id)}?{query}"

    def check(self, booking_id: UUID, expires: int, signature: str, now: datetime) -> None:
        if not hmac.compare_digest(signature, self._signature(booking_id, expires)):
            raise InvalidLink("this recording link is not valid")
        if now.timestamp() > expires:
            raise LinkExpired("this recording link has expired: open the session again")
