"""Idempotency-Key handling for POST /v1/bookings, shared by every booking process via Redis.

The first request with a key reserves it for 24 h together with the request's
fingerprint and a fresh booking id. The booking is then created under that id,
and creating an aggregate whose id exists is refused by the event store, so a
retry (even one racing the first in another process, or one after a crash)
ends at the same booking instead of making a second.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from uuid import UUID, uuid4

import redis

from booking.domain import DomainError

TTL_SECONDS = 24 * 60 * 60
MAX_KEY_LENGTH = 255


class KeyReused(DomainError):
    code = "idempotency_key_reused"


def canonical(body: Any) -> str:
    """A parsed request body as stable text, for its fingerprint: a digest keyed by the
    client's data key (kairos.privacy.Sealer.digest), so that once the client is erased
    nobody can test a guessed body against the fingerprint kept in the booking's event."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)


class IdempotencyKeys:
    def __init__(self, client: redis.Redis, ttl_seconds: int = TTL_SECONDS) -> None:
        self._redis = client
        self._ttl = ttl_seconds

    def reserve(self, key: str, digest: str) -> UUID:
        """The booking id this key stands for; KeyReused if it came with another body."""
        if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
            raise DomainError(f"Idempotency-Key must be 1..{MAX_KEY_LENGTH} printable characters")
        record = json.dumps({"fingerprint": digest, "booking_id": str(uuid4())})
        name = self._name(key)
        if not self._redis.set(name, record, nx=True, ex=self._ttl):
            stored = self._redis.get(name)
            if stored is None:  # expired between the two calls: reserve afresh
                return self.reserve(key, digest)
            record = stored.decode() if isinstance(stored, bytes) else str(stored)
        existing = json.loads(record)
        if existing["fingerprint"] != digest:
            raise KeyReused("this Idempotency-Key was used with a different request body")
        return UUID(existing["booking_id"])

    def forget(self, key: str) -> None:
        """Free a key whose request was refused, so a corrected retry can use it."""
        self._redis.delete(self._name(key))

    @staticmethod
    def _name(key: str) -> str:
        return "idem:booking:" + hashlib.sha256(key.encode()).hexdigest()
