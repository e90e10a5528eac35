"""Who is calling: the admin API key, a specialist's JWT, or a booking's manage token.

Manage tokens are HMAC-SHA256 signatures of the booking id and its token
generation (256 bits): nothing to store but the generation, and a token opens
exactly the booking it was issued for. Revoking a booking's token moves its
generation on (booking.manage_tokens), which ends every token of the earlier one;
generation 0 signs the id alone, as tokens did before they were revocable. Specialist JWTs
carry `iss` and `aud`, and a token naming another issuer or audience is refused:
a token some other system signed with a shared secret opens nothing here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from uuid import UUID

import jwt

JWT_ALGORITHM = "HS256"
# Defaults of the JWT_ISSUER and JWT_AUDIENCE settings.
JWT_ISSUER = "kairos"
JWT_AUDIENCE = "kairos-api"


@dataclass(frozen=True)
class Caller:
    role: Literal["admin", "specialist", "client"]
    specialist_id: UUID | None = None
    booking_id: UUID | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def is_specialist(self, specialist_id: UUID) -> bool:
        return self.role == "specialist" and self.specialist_id == specialist_id

    def holds_token_for(self, booking_id: UUID) -> bool:
        return self.role == "client" and self.booking_id == booking_id


class Authenticator:
    """Turns an `Authorization: Bearer …` credential into a Caller, or None."""

    def __init__(
        self,
        admin_api_key: str,
        jwt_secret: str,
        manage_token_secret: str,
        issuer: str = JWT_ISSUER,
        audience: str = JWT_AUDIENCE,
    ) -> None:
        if not (admin_api_key and jwt_secret and manage_token_secret):
            raise ValueError("admin key, JWT secret and manage-token secret must all be set")
        self._admin_key = admin_api_key.encode()
        self._jwt_secret = jwt_secret
        self._manage_secret = manage_token_secret.encode()
        self._issuer = issuer
        self._audience = audience

    def manage_token(self, booking_id: UUID, generation: int = 0) -> str:
        message = b"manage:" + booking_id.bytes
        if generation:
            message += b":" + str(generation).encode()
        mac = hmac.new(self._manage_secret, message, hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()

    def specialist_token(
        self, specialist_id: UUID, now: datetime, ttl: timedelta = timedelta(hours=12)
    ) -> str:
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": str(specialist_id),
            "role": "specialist",
            "iat": now,
            "exp": now + ttl,
        }
        return jwt.encode(claims, self._jwt_secret, algorithm=JWT_ALGORITHM)

    def caller(
        self,
        authorization: str | None,
        booking_id: UUID | None = None,
        generation: Callable[[], int] = lambda: 0,
    ) -> Caller | None:
        """The caller a bearer credential proves; a manage token only for `booking_id`, of
        its current `generation` (asked only when the credential may be one)."""
        scheme, _, credential = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not credential:
            return None
        credential = credential.strip()
        if hmac.compare_digest(credential.encode(), self._admin_key):
            return Caller("admin")
        if credential.count(".") == 2:
            return self._specialist(credential)
        if booking_id is not None and hmac.compare_digest(
            credential.encode(), self.manage_token(booking_id, generation()).encode()
        ):
            return Caller("client", booking_id=booking_id)
        return None

    def _specialist(self, token: str) -> Caller | None:
        try:
            claims = jwt.decode(
                token,
                self._jwt_secret,
                algorithms=[JWT_ALGORITHM],
                issuer=self._issuer,
                audience=self._audience,
                options={"require": ["iss", "aud", "sub", "exp"]},
                leeway=timedelta(seconds=30),
            )
            if claims.get("role") != "specialist":
                return None
            return Caller("specialist", specialist_id=UUID(str(claims["sub"])))
        except (jwt.PyJWTError, ValueError):
            return None


def now_utc() -> datetime:
    """The clock, read at the edge (routes, workers) and passed into domain code."""
    return datetime.now(UTC)
