"""The key store: one row per data subject, in PostgreSQL (PRIVACY_DATABASE_URL).

A subject is a person, known by the blind index of their e-mail address (a client
and a specialist with the same address are one subject). Its data key is kept
wrapped under the master key; erasing the subject deletes the wrapped key and the
index entry, so nothing can open its values again and the store no longer links it
to an address. A person who comes back after an erasure is a new subject.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import psycopg
from psycopg_pool import ConnectionPool

from kairos.ddl import create_if_missing
from kairos.privacy import crypto

SCHEMA = """
CREATE TABLE IF NOT EXISTS privacy_subjects (
    subject_id uuid PRIMARY KEY,
    subject_digest bytea UNIQUE,
    wrapped_key bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    erased_at timestamptz,
    CHECK ((wrapped_key IS NULL) = (erased_at IS NOT NULL)));
"""

# The new subject if the address has none, else the existing one. Both parts see the
# statement's snapshot: a subject another transaction inserts concurrently is neither
# inserted here (ON CONFLICT waits for it) nor seen, so no row comes back.
_KEY_FOR = """
WITH made AS (
    INSERT INTO privacy_subjects (subject_id, subject_digest, wrapped_key) VALUES (%s, %s, %s)
    ON CONFLICT (subject_digest) DO NOTHING RETURNING subject_id, wrapped_key)
SELECT subject_id, wrapped_key FROM made
UNION ALL
SELECT subject_id, wrapped_key FROM privacy_subjects WHERE subject_digest = %s
"""

_SCHEMA_LOCK = 0x70726976  # "priv": serialises CREATE TABLE across starting processes


@dataclass(frozen=True)
class SubjectKey:
    subject: UUID
    key: bytes


def create_schema(conn: psycopg.Connection[Any], schema: str) -> None:
    """Create the key store's tables, one process at a time (CREATE TABLE IF NOT EXISTS
    races with itself)."""
    create_if_missing(conn, _SCHEMA_LOCK, schema)


class KeyStore:
    """Data keys of data subjects: created on first use, deleted by `shred_subjects`."""

    def __init__(self, pool: ConnectionPool[Any], master_secret: str, index_secret: str) -> None:
        self._pool = pool
        self._master = crypto.derive_key(master_secret, "kairos/privacy/master")
        self._index = crypto.derive_key(index_secret, "kairos/privacy/index")

    def create_tables(self) -> None:
        with self._pool.connection() as conn:
            create_schema(conn, SCHEMA)

    def digest(self, email: str) -> bytes:
        return crypto.blind_index(self._index, email)

    def key_for(self, email: str) -> SubjectKey:
        """The data key of the person with this address, made on first use: one statement
        either way, as every booking asks for its client's key."""
        digest = self.digest(email)
        candidate, key = uuid4(), crypto.new_data_key()
        with self._pool.connection() as conn:
            row = conn.execute(
                _KEY_FOR, (candidate, digest, crypto.wrap(self._master, candidate, key), digest)
            ).fetchone()
        if row is None:  # made or erased by another statement meanwhile: look again
            return self.key_for(email)
        subject, wrapped = row
        if subject == candidate:
            return SubjectKey(candidate, key)
        return SubjectKey(subject, crypto.unwrap(self._master, subject, wrapped))

    def subject_of(self, email: str) -> UUID | None:
        """The live subject with this address, if any (erased ones are not found)."""
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT subject_id FROM privacy_subjects WHERE subject_digest = %s",
                (self.digest(email),),
            ).fetchone()
        return row[0] if row else None

    def keys(self, subjects: Iterable[UUID]) -> dict[UUID, bytes]:
        """The data keys of those of `subjects` that are not erased. Read afresh on every
        call: no process keeps a key that an erasure has deleted."""
        wanted = list(set(subjects))
        if not wanted:
            return {}
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT subject_id, wrapped_key FROM privacy_subjects "
                "WHERE subject_id = ANY(%s) AND wrapped_key IS NOT NULL",
                (wanted,),
            ).fetchall()
        return {subject: crypto.unwrap(self._master, subject, wrapped) for subject, wrapped in rows}

    def shred_subjects(self, subjects: Iterable[UUID]) -> None:
        """Delete these subjects' keys and index entries: nothing can open their values
        again, and the store no longer links them to an address."""
        with self._pool.connection() as conn:
            conn.execute(
                "UPDATE privacy_subjects SET wrapped_key = NULL, subject_digest = NULL, "
                "erased_at = now() WHERE subject_id = ANY(%s) AND erased_at IS NULL",
                (list(subjects),),
            )
