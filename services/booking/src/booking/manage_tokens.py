"""Revocable manage tokens: each booking's token generation, in the booking database.

A manage token signs the booking id and its generation (kairos.auth); revoking moves
the generation on, so every earlier token — the one the booking's 201 gave, and the
ones in e-mails already sent — stops opening the booking, while nothing else about
the booking changes. A booking never revoked has no row (generation 0).

The generation is access state, not part of the booking's history, so it is a table
of its own rather than an event: a replay must not resurrect revoked tokens, nor
need one to rebuild the booking.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg_pool import ConnectionPool

from kairos.auth import Authenticator
from kairos.ddl import create_if_missing

_DDL = """
CREATE TABLE IF NOT EXISTS manage_token_generations (
    booking_id uuid PRIMARY KEY,
    generation integer NOT NULL,
    revoked_at timestamptz NOT NULL
);
"""
_DDL_LOCK = 0x6B6169726F730030


class ManageTokens:
    def __init__(self, pool: ConnectionPool[Any], auth: Authenticator) -> None:
        self._pool = pool
        self._auth = auth

    def create_tables(self) -> None:
        with self._pool.connection() as conn:
            create_if_missing(conn, _DDL_LOCK, _DDL)

    def generation(self, booking_id: UUID) -> int:
        return self._generations([booking_id])[booking_id]

    def current(self, booking_ids: Collection[UUID]) -> dict[UUID, str]:
        """Each booking's manage token as it stands, in one read of the generations
        (the notifications worker asks for a batch of messages' bookings at once)."""
        generations = self._generations(booking_ids)
        return {
            booking_id: self._auth.manage_token(booking_id, generation)
            for booking_id, generation in generations.items()
        }

    def _generations(self, booking_ids: Collection[UUID]) -> dict[UUID, int]:
        """Each booking's token generation, in one query (0 for a booking never revoked)."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT booking_id, generation FROM manage_token_generations"
                " WHERE booking_id = ANY(%s)",
                (list(booking_ids),),
            ).fetchall()
        found = {UUID(str(row[0])): int(row[1]) for row in rows}
        return {booking_id: found.get(booking_id, 0) for booking_id in booking_ids}

    def revoke(self, booking_id: UUID, at: datetime) -> str:
        """End every token the booking had; returns the new one."""
        with self._pool.connection() as conn:
            row = conn.execute(
                "INSERT INTO manage_token_generations (booking_id, generation, revoked_at)"
                " VALUES (%s, 1, %s) ON CONFLICT (booking_id) DO UPDATE"
                " SET generation = manage_token_generations.generation + 1,"
                " revoked_at = EXCLUDED.revoked_at RETURNING generation",
                (booking_id, at),
            ).fetchone()
        assert row is not None
        return self._auth.manage_token(booking_id, int(row[0]))
