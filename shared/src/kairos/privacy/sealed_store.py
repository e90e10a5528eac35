"""Service secrets at rest (calendar credentials, webhook signing secrets), encrypted.

Each owner's values (a connection's OAuth tokens, a webhook subscription's secret) are
one JSON object, sealed with AES-256-GCM under the current key (the owner's id bound as
associated data, so a row copied onto another owner does not open) and stored with that
key's id. The keys come from the environment (a comma-separated list of secrets, the
first one current): a new key goes first, the service's `kairos reencrypt` command
re-seals every row under it, and the old key can then be dropped. What is sealed here is
never logged and never put on a topic.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg

from kairos.commands import Command, setting
from kairos.ddl import create_if_missing
from kairos.privacy.crypto import derive_key, unwrap, wrap
from kairos.settings import DATABASE_URL_ENV, MIN_SECRET_BYTES

#: Every sealed store's table is created at start by each process that uses it (kairos.ddl).
_DDL_LOCK = 0x6B6169726F730050


class UnknownSealingKey(Exception):
    """A row sealed under a key that is no longer configured."""


@dataclass(frozen=True)
class SealingKey:
    id: str
    key: bytes

    @classmethod
    def of(cls, secret: str, purpose: str) -> SealingKey:
        key = derive_key(secret, purpose)
        return cls(hashlib.sha256(key).hexdigest()[:16], key)


class SealingKeys:
    """The configured keys of one `purpose` (which keeps each store's keys apart even
    under the same secret); the first seals, all of them open."""

    def __init__(self, secrets: Sequence[str], purpose: str) -> None:
        if not secrets:
            raise ValueError("at least one sealing key is needed")
        if any(len(s.encode()) < MIN_SECRET_BYTES for s in secrets):
            raise ValueError(f"each sealing key needs at least {MIN_SECRET_BYTES} bytes")
        self._keys = [SealingKey.of(s, purpose) for s in secrets]
        self._by_id = {k.id: k for k in self._keys}

    @classmethod
    def parse(cls, secrets: str, purpose: str) -> SealingKeys:
        """The keys of a comma-separated setting."""
        return cls([s.strip() for s in secrets.split(",")], purpose)

    @property
    def current(self) -> SealingKey:
        return self._keys[0]

    def seal(self, owner: UUID, values: dict[str, Any]) -> tuple[str, bytes]:
        key = self.current
        return key.id, wrap(key.key, owner, json.dumps(values).encode())

    def open(self, owner: UUID, key_id: str, blob: bytes) -> dict[str, Any]:
        key = self._by_id.get(key_id)
        if key is None:
            raise UnknownSealingKey(f"the sealed values of {owner} use a retired key")
        opened: dict[str, Any] = json.loads(unwrap(key.key, owner, blob))
        return opened


class SealedStore:
    """Sealed values by owner id, in one table of the service's database."""

    def __init__(self, database_url: str, keys: SealingKeys, table: str, owner: str) -> None:
        self._url = database_url
        self._keys = keys
        self.table = table
        self._owner = owner

    def create_table(self) -> None:
        ddl = (
            f"CREATE TABLE IF NOT EXISTS {self.table} ({self._owner} uuid PRIMARY KEY,"
            " key_id text NOT NULL, sealed bytea NOT NULL)"
        )
        with psycopg.connect(self._url, autocommit=True) as conn:
            create_if_missing(conn, _DDL_LOCK, ddl)

    def put(self, owner: UUID, values: dict[str, Any]) -> None:
        key_id, blob = self._keys.seal(owner, values)
        with psycopg.connect(self._url) as conn:
            conn.execute(
                f"INSERT INTO {self.table} VALUES (%s, %s, %s) ON CONFLICT ({self._owner})"
                " DO UPDATE SET key_id = EXCLUDED.key_id, sealed = EXCLUDED.sealed",
                (owner, key_id, blob),
            )

    def get(self, owner: UUID) -> dict[str, Any] | None:
        with psycopg.connect(self._url) as conn:
            row = conn.execute(
                f"SELECT key_id, sealed FROM {self.table} WHERE {self._owner} = %s", (owner,)
            ).fetchone()
        return None if row is None else self._keys.open(owner, row[0], bytes(row[1]))

    def forget(self, owner: UUID) -> None:
        """When the owner goes: its values are of no use any more."""
        with psycopg.connect(self._url) as conn:
            conn.execute(f"DELETE FROM {self.table} WHERE {self._owner} = %s", (owner,))

    def reencrypt(self) -> int:
        """Re-seal every row not under the current key; how many were."""
        current = self._keys.current.id
        done = 0
        with psycopg.connect(self._url) as conn:
            rows = conn.execute(
                f"SELECT {self._owner}, key_id, sealed FROM {self.table}"
                " WHERE key_id <> %s FOR UPDATE",
                (current,),
            ).fetchall()
            for owner, key_id, blob in rows:
                values = self._keys.open(owner, key_id, bytes(blob))
                new_id, new_blob = self._keys.seal(owner, values)
                conn.execute(
                    f"UPDATE {self.table} SET key_id = %s, sealed = %s WHERE {self._owner} = %s",
                    (new_id, new_blob, owner),
                )
                done += 1
        return done


def reencrypt_command(
    what: str, keys_env: str, store: Callable[[str, str], SealedStore]
) -> Command:
    """`kairos reencrypt <service>`: re-seal `what` under the current key of `keys_env`.

    Rotation: put a new key first in `keys_env` (keeping the old ones), roll the
    Deployments, run the command, then drop the old key. It reads DATABASE_URL and
    `keys_env` from the environment (or the running `kairos dev`); `store` builds the
    service's store from the two.
    """

    def run(_: argparse.Namespace) -> int:
        database, keys = setting(DATABASE_URL_ENV), setting(keys_env)
        if not database or not keys:
            print(f"kairos reencrypt: set {DATABASE_URL_ENV} and {keys_env}", file=sys.stderr)
            return 2
        sealed = store(database, keys)
        sealed.create_table()
        print(f"re-sealed {sealed.reencrypt()} {what} under the current key")
        return 0

    return Command(f"re-seal {what} under the current key", run)
