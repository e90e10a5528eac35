"""Who is calling: the admin API key, a specialist's JWT, or a booking's manage token.

Manage tokens name the booking and token generation they were issued for, signed
with HMAC-SHA256 (256 bits): `<booking id, base64url>.<generation>.<mac>`. Nothing is
stored but the generation, and because a token says whose it is, a genuine token of
another booking proves its holder (who is then refused, 403) where a forged one
proves no one (401). Revoking a booking's token moves its generation on
(booking.manage_tokens), which ends every token of the earlier one; generation 0
signs the id alone, as tokens did before they were revocable. Specialist JWTs
carry `iss` and `aud`, and a token naming another issuer or audience is refused:
a token some other system signed with a shared secret opens nothing here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
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

# The booking id's 16 bytes, the generation, and the 32-byte MAC, base64url unpadded. A
# JWT never matches: its middle segment is base64 of a JSON object, never all digits.
_MANAGE_TOKEN = re.compile(r"([A-Za-z0-9_-]{22})\.(0|[1-9][0-9]{0,8})\.([A-Za-z0-9_-]{43})")

#: A booking's current manage-token generation, or None for a booking unknown here.
Generations = Callable[[UUID], int | None]


@dataclass(frozen=True)
class ManageTokenClaim:
    """What a manage token says about itself, before (or without) its MAC is checked."""

    booking_id: UUID
    generation: int

    @classmethod
    def of(cls, token: str) -> ManageTokenClaim | None:
        """The claim of a token shaped like a manage token, or None."""
        shape = _MANAGE_TOKEN.fullmatch(token)
        if shape is None:
            return None
        try:
            booking_id = UUID(bytes=base64.urlsafe_b64decode(shape[1] + "=="))
        except (binascii.Error, ValueError):
            return None
        return cls(booking_id, int(shape[2]))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


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

    def holds_token_for(self, booking_id: UUID | None) -> bool:
        return self.role == "client" and self.booking_id == booking_id


def is_admin_key(credential: str, admin_key: bytes) -> bool:
    """Whether a bearer credential is the admin API key (in constant time)."""
    return hmac.compare_digest(credential.encode(), admin_key)


def bearer_credential(authorization: str | None) -> str | None:
    """The credential of an `Authorization: Bearer …` header, or None."""
    scheme, _, credential = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not credential:
        return None
    return credential.strip()


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
        mac = hmac.new(self._manage_secret, message, hashlib.sha256).digest()
        return f"{_b64(booking_id.bytes)}.{generation}.{_b64(mac)}"

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
        self, authorization: str | None, generations: Generations | None = None
    ) -> Caller | None:
        """The caller a bearer credential proves. A manage token proves the holder of the
        booking it names while it is of that booking's current generation (`generations`
        is asked only for a token whose MAC checks out); without `generations` it proves
        no one. Whether the caller may act on a given booking is the route's to decide."""
        credential = bearer_credential(authorization)
        if credential is None:
            return None
        if is_admin_key(credential, self._admin_key):
            return Caller("admin")
        claim = ManageTokenClaim.of(credential)
        if claim is not None:
            return self._client(credential, claim, generations)
        if credential.count(".") == 2:
            return self._specialist(credential)
        return None

    def _client(
        self, token: str, claim: ManageTokenClaim, generations: Generations | None
    ) -> Caller | None:
        genuine = self.manage_token(claim.booking_id, claim.generation)
        if generations is None or not hmac.compare_digest(token.encode(), genuine.encode()):
            return None
        if generations(claim.booking_id) != claim.generation:
            return None  # revoked, or a booking this service does not know
        return Caller("client", booking_id=claim.booking_id)

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
