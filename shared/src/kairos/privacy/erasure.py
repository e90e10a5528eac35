"""The erasure ledger: who has forgotten whom (POST /v1/privacy/erasures and its status).

An erasure lists every participant: the service that takes the request (booking) and
every service registered as keeping data derived from personal fields. Each reports
its own state; the erasure is done when all have. Participants hear of an erasure
through the `PersonErased` integration event (subject ids and the erasure's id, no
personal data) and report with `report`; reporting twice changes nothing, so a
redelivered event is harmless.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

import psycopg
from psycopg_pool import ConnectionPool

from kairos.privacy.keys import create_schema

SCHEMA = """
CREATE TABLE IF NOT EXISTS privacy_participants (service text PRIMARY KEY);
CREATE TABLE IF NOT EXISTS privacy_erasures (
    id uuid PRIMARY KEY, subjects uuid[] NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS privacy_erasure_states (
    erasure_id uuid NOT NULL REFERENCES privacy_erasures (id),
    service text NOT NULL,
    state text NOT NULL CHECK (state IN ('pending', 'done')),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (erasure_id, service));
"""

State = Literal["pending", "done"]


@dataclass(frozen=True)
class ErasureStatus:
    state: State
    services: dict[str, State]


class ErasureLedger:
    """On the key store's database: through a pool (the booking service) or a URL, for a
    participant that only reports now and then."""

    def __init__(self, database: ConnectionPool[Any] | str) -> None:
        self._database = database

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        if isinstance(self._database, str):
            with psycopg.connect(self._database) as conn:
                yield conn
        else:
            with self._database.connection() as conn:
                yield conn

    def create_tables(self) -> None:
        with self._connection() as conn:
            create_schema(conn, SCHEMA)

    def register(self, service: str) -> None:
        """`service` keeps data derived from personal fields: every later erasure waits
        for its report."""
        with self._connection() as conn:
            conn.execute(
                "INSERT INTO privacy_participants (service) VALUES (%s) ON CONFLICT DO NOTHING",
                (service,),
            )

    def open(self, erasure_id: UUID, subjects: Iterable[UUID], requested_by: str) -> None:
        """Record an erasure, pending at `requested_by` and every registered participant."""
        with self._connection() as conn:
            conn.execute(
                "INSERT INTO privacy_erasures (id, subjects) VALUES (%s, %s)",
                (erasure_id, list(subjects)),
            )
            conn.execute(
                "INSERT INTO privacy_erasure_states (erasure_id, service, state) "
                "SELECT %s, service, 'pending' FROM privacy_participants "
                "UNION SELECT %s, %s, 'pending'",
                (erasure_id, erasure_id, requested_by),
            )

    def report(self, erasure_id: UUID, service: str, state: State = "done") -> None:
        """`service`'s state for this erasure (a participant registered after the erasure
        was opened adds itself)."""
        with self._connection() as conn:
            conn.execute(
                "INSERT INTO privacy_erasure_states (erasure_id, service, state) "
                "SELECT id, %s, %s FROM privacy_erasures WHERE id = %s "
                "ON CONFLICT (erasure_id, service) DO UPDATE "
                "SET state = EXCLUDED.state, updated_at = now()",
                (service, state, erasure_id),
            )

    def pending(self, service: str) -> list[tuple[UUID, list[UUID]]]:
        """The erasures still pending at `service`, with their subjects."""
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT e.id, e.subjects FROM privacy_erasures e "
                "JOIN privacy_erasure_states s ON s.erasure_id = e.id "
                "WHERE s.service = %s AND s.state = 'pending' ORDER BY e.requested_at",
                (service,),
            ).fetchall()
        return [(erasure_id, list(subjects)) for erasure_id, subjects in rows]

    def status(self, erasure_id: UUID) -> ErasureStatus | None:
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT service, state FROM privacy_erasure_states WHERE erasure_id = %s",
                (erasure_id,),
            ).fetchall()
        if not rows:
            return None
        services: dict[str, State] = {service: state for service, state in rows}
        done = all(state == "done" for state in services.values())
        return ErasureStatus("done" if done else "pending", services)
