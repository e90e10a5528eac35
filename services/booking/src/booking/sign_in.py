"""Specialists sign in by e-mail: a one-time code, sent as a link, traded for their JWT.

A code is 256 random bits. Only its SHA-256 is stored, in Redis with the specialist's
id and expiry, so a copy of Redis signs no one in; no slow hash is needed, a code
cannot be guessed. Redeeming takes the entry with GETDEL: single use even when two
requests race. It expires after CODE_TTL by the service's clock (Redis's expiry only
clears it away).

Requests are limited per address (by its blind index, never the address) and per
client IP, in fixed windows shared by every process through Redis. The answer is
the same whether or not the address is a specialist's: the lookup, the code and the
mail happen after the response has gone (`send_link`, a background task), so neither
the status nor the time tells. The code travels in the mail only: never on a topic or
in a log, and the link carries it in its fragment, which browsers never send, so it
stays out of access logs too.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import make_msgid
from uuid import UUID

import redis

from booking.application import Bookings
from booking.domain import DomainError
from kairos.auth import Authenticator
from kairos.privacy import KeyStore
from kairos.providers.mail import Mailer, OutgoingMail

log = logging.getLogger("booking.sign_in")

CODE_TTL = timedelta(minutes=15)
# How long the JWT a code is traded for lasts: a working day, then a new link.
SESSION_TTL = timedelta(hours=12)
VERIFY_PATH = "/sign-in/verify"


class TooManySignIns(DomainError):
    code = "too_many_requests"
    status = 429

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(
            "too many sign-in requests; try again later",
            {"retry_after_seconds": retry_after_seconds},
        )
        self.retry_after_seconds = retry_after_seconds

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_seconds)}


class InvalidCode(DomainError):
    code = "invalid_code"
    status = 401

    def __init__(self) -> None:
        super().__init__("this sign-in link is unknown, used or expired; ask for a new one")


@dataclass(frozen=True)
class RateLimit:
    """At most `limit` hits per key in each `window`, across processes (Redis)."""

    client: redis.Redis
    name: str
    limit: int
    window: timedelta

    def hit(self, key: str) -> int | None:
        """Count a hit; None if it is within the limit, else the seconds until the window
        ends. The window starts at a key's first hit (SET NX) and the count is INCR'd, so
        concurrent hits are all counted."""
        name = f"signin:limit:{self.name}:{key}"
        seconds = int(self.window.total_seconds())
        pipe = self.client.pipeline()
        pipe.set(name, 0, ex=seconds, nx=True)
        pipe.incr(name)
        pipe.ttl(name)
        _, count, ttl = pipe.execute()
        return None if count <= self.limit else max(int(ttl), 1)


@dataclass(frozen=True)
class SignInCodes:
    client: redis.Redis

    def issue(self, specialist_id: UUID, now: datetime) -> str:
        code = secrets.token_urlsafe(32)
        entry = {"specialist_id": str(specialist_id), "expires_at": (now + CODE_TTL).isoformat()}
        self.client.set(code_key(code), json.dumps(entry), ex=int(CODE_TTL.total_seconds()) + 60)
        return code

    def redeem(self, code: str, now: datetime) -> UUID | None:
        """The specialist the code was issued to, if it is live; it is spent either way."""
        stored = self.client.getdel(code_key(code))
        if stored is None:
            return None
        entry = json.loads(stored)
        if now >= datetime.fromisoformat(entry["expires_at"]):
            return None
        return UUID(entry["specialist_id"])


def code_key(code: str) -> str:
    """Where a code is kept in Redis: under its SHA-256, never the code itself."""
    return "signin:code:" + hashlib.sha256(code.encode()).hexdigest()


@dataclass(frozen=True)
class SignInMail:
    """The link's e-mail: where it comes from and where the link points."""

    mailer: Mailer
    sender: str
    public_url: str

    def compose(self, to: str, code: str, now: datetime) -> OutgoingMail:
        link = f"{self.public_url.rstrip('/')}{VERIFY_PATH}#code={code}"
        minutes = int(CODE_TTL.total_seconds()) // 60
        text = (
            "Open this link to sign in to Kairos:\n\n"
            f"{link}\n\n"
            f"It works once, within {minutes} minutes. If you did not ask to sign in, "
            "ignore this e-mail.\n"
        )
        body = (
            f'<p><a href="{html.escape(link)}">Sign in to Kairos</a></p>'
            f"<p>The link works once, within {minutes} minutes. If you did not ask to sign "
            "in, ignore this e-mail.</p>"
        )
        domain = self.sender.rpartition("@")[2].strip("> ") or "kairos.invalid"
        return OutgoingMail(
            message_id=make_msgid(domain=domain),
            sender=self.sender,
            to=(to,),
            subject="Your Kairos sign-in link",
            text=text,
            html=f"<!doctype html><html><body>{body}</body></html>",
            date=now,
        )


@dataclass(frozen=True)
class SignedIn:
    token: str
    expires_at: datetime


class SignIns:
    def __init__(
        self,
        app: Bookings,
        keys: KeyStore,
        auth: Authenticator,
        codes: SignInCodes,
        per_address: RateLimit,
        per_ip: RateLimit,
        mail: SignInMail | None,
    ) -> None:
        """`mail` None: no mail server is configured, and requests send nothing."""
        self._app = app
        self._keys = keys
        self._auth = auth
        self._codes = codes
        self._per_address = per_address
        self._per_ip = per_ip
        self._mail = mail
        if mail is None:
            log.warning("sign-in links cannot be sent: set SMTP_HOST, MAIL_FROM and PUBLIC_URL")

    def admit(self, email: str, client_ip: str) -> None:
        """Count a request against both limits; TooManySignIns when one is exceeded. The
        same work for every address, a specialist's or not."""
        waits = [
            self._per_ip.hit(hashlib.sha256(client_ip.encode()).hexdigest()),
            self._per_address.hit(self._keys.digest(email).hex()),
        ]
        if any(wait is not None for wait in waits):
            raise TooManySignIns(max(wait or 0 for wait in waits))

    def send_link(self, email: str, now: datetime) -> None:
        """Mail a code to the specialist with this address, if there is one (after the
        response has gone). Failures are logged without the address or the code."""
        if self._mail is None:
            return
        try:
            specialist_id = self._app.specialist_with_email(email)
            if specialist_id is None:
                return
            code = self._codes.issue(specialist_id, now)
            self._mail.mailer.send(self._mail.compose(email, code, now))
        except Exception as exc:  # a background task: nobody else would hear of it
            log.warning("a sign-in link was not sent: %s", type(exc).__name__)

    def verify(self, code: str, now: datetime) -> SignedIn:
        specialist_id = self._codes.redeem(code, now)
        if specialist_id is None:
            raise InvalidCode()
        token = self._auth.specialist_token(specialist_id, now, SESSION_TTL)
        # The JWT's exp, which counts whole seconds.
        return SignedIn(token, (now + SESSION_TTL).replace(microsecond=0))
