"""Provider credentials at rest: OAuth tokens and CalDAV passwords, encrypted.

Each connection's credentials are one JSON object, sealed with AES-256-GCM under the
current credential key (the connection id bound as associated data, so a row copied
onto another connection does not open) and stored with that key's id. The keys come
from the environment (CALENDAR_CREDENTIAL_KEYS, comma-separated secrets, the first
one current): a new key goes first, `kairos reencrypt calendar-sync` re-seals every
row under it, and the old key can then be dropped. Credentials are never logged and
never put on a topic: the events name the connection, not its secrets.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg

from kairos.privacy.crypto import derive_key, unwrap, wrap
from kairos.settings import MIN_SECRET_BYTES

TABLE = "calendar_credentials"


class UnknownCredentialKey(Exception):
    """A row sealed under a key that is no longer configured."""


@dataclass(frozen=True)
class CredentialKey:
    id: str
    key: bytes

    @classmethod
    def of(cls, secret: str) -> CredentialKey:
        key = derive_key(secret, "calendar-sync credentials")
        return cls(hashlib.sha256(key).hexdigest()[:16], key)


class CredentialKeys:
    """The configured keys; the first seals, all of them open."""

    def __init__(self, secrets: Sequence[str]) -> None:
        if not secrets:
            raise ValueError("at least one credential key is needed")
        if any(len(s.encode()) < MIN_SECRET_BYTES for s in secrets):
            raise ValueError(f"each credential key needs at least {MIN_SECRET_BYTES} bytes")
        self._keys = [CredentialKey.of(s) for s in secrets]
        self._by_id = {k.id: k for k in self._keys}

    @property
    def current(self) -> CredentialKey:
        return self._keys[0]

    def seal(self, connection_id: UUID, values: dict[str, Any]) -> tuple[str, bytes]:
        key = self.current
        return key.id, wrap(key.key, connection_id, json.dumps(values).encode())

    def open(self, connection_id: UUID, key_id: str, blob: bytes) -> dict[str, Any]:
        key = self._by_id.get(key_id)
        if key is None:
            raise UnknownCredentialKey(f"credentials of {connection_id} use a retired key")
        opened: dict[str, Any] = json.loads(unwrap(key.key, connection_id, blob))
        return opened


class CredentialStore:
    """Credentials by connection id, in calendar-sync's database."""

    def __init__(self, database_url: str, keys: CredentialKeys) -> None:
        self._url = database_url
        self._keys = keys

    def create_table(self) -> None:
        with psycopg.connect(self._url, autocommit=True) as conn:
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {TABLE} (connection_id uuid PRIMARY KEY,"
                " key_id text NOT NULL, sealed bytea NOT NULL)"
            )

    def put(self, connection_id: UUID, values: dict[str, Any]) -> None:
        key_id, blob = self._keys.seal(connection_id, values)
        with psycopg.connect(self._url) as conn:
            conn.execute(
                f"INSERT INTO {TABLE} VALUES (%s, %s, %s) ON CONFLICT (connection_id)"
                " DO UPDATE SET key_id = EXCLUDED.key_id, sealed = EXCLUDED.sealed",
                (connection_id, key_id, blob),
            )

    def get(self, connection_id: UUID) -> dict[str, Any] | None:
        with psycopg.connect(self._url) as conn:
            row = conn.execute(
                f"SELECT key_id, sealed FROM {TABLE} WHERE connection_id = %s", (connection_id,)
            ).fetchone()
        return None if row is None else self._keys.open(connection_id, row[0], bytes(row[1]))

    def forget(self, connection_id: UUID) -> None:
        """On disconnect: the credentials are of no use any more."""
        with psycopg.connect(self._url) as conn:
            conn.execute(f"DELETE FROM {TABLE} WHERE connection_id = %s", (connection_id,))

    def reencrypt(self) -> int:
        """Re-seal every row not under the current key; how many were."""
        current = self._keys.current.id
        done = 0
        with psycopg.connect(self._url) as conn:
            rows = conn.execute(
                f"SELECT connection_id, key_id, sealed FROM {TABLE} WHERE key_id <> %s FOR UPDATE",
                (current,),
            ).fetchall()
            for connection_id, key_id, blob in rows:
                values = self._keys.open(connection_id, key_id, bytes(blob))
                new_id, new_blob = self._keys.seal(connection_id, values)
                conn.execute(
                    f"UPDATE {TABLE} SET key_id = %s, sealed = %s WHERE connection_id = %s",
                    (new_id, new_blob, connection_id),
                )
                done += 1
        return done
