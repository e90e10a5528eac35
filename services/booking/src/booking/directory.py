"""The public catalog as query tables: specialists' profiles (paged) and their services.

A projection (see booking.projection): a page of GET /v1/specialists or a
specialist's GET /v1/services is one indexed query, not one event-store load per
aggregate. Rows hold what the public views show, never an e-mail address.

A specialist's name and bio are personal data sealed in the events; the public list
is sorted by name, so rows hold them in clear, revealed when projected, with the
specialist's data subject: erasing the subject overwrites them (`forget`), and a
rebuild after that reveals them as erased.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.application import Application
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from booking.domain import Service, Specialist
from booking.projection import Projection, as_json, topic
from kairos.privacy import ERASED, PersonalData, subject_of

SCHEMA = """
CREATE TABLE IF NOT EXISTS specialist_profiles (
    id uuid PRIMARY KEY, name text NOT NULL, timezone text NOT NULL,
    specialty text, bio text,
    weekly jsonb NOT NULL DEFAULT '{}', overrides jsonb NOT NULL DEFAULT '{}');
ALTER TABLE specialist_profiles ADD COLUMN IF NOT EXISTS subject uuid;
CREATE INDEX IF NOT EXISTS specialist_profiles_by_subject ON specialist_profiles (subject);
CREATE INDEX IF NOT EXISTS specialist_profiles_by_name ON specialist_profiles (name, id);
CREATE TABLE IF NOT EXISTS service_definitions (
    id uuid PRIMARY KEY, specialist_id uuid NOT NULL, definition jsonb NOT NULL);
CREATE INDEX IF NOT EXISTS service_definitions_by_specialist
    ON service_definitions (specialist_id, (definition->>'name'), id);
"""

# A page starts after this (name, id): the list's order, so pages never skip or repeat.
After = tuple[str, UUID]


class Directory(Projection):
    def __init__(
        self, app: Application[UUID], pool: ConnectionPool, personal: PersonalData
    ) -> None:
        self._personal = personal
        super().__init__(
            app,
            pool,
            "directory",
            1,
            SCHEMA,
            {
                topic(Specialist, "Registered"): self._registered,
                topic(Specialist, "ScheduleSet"): self._schedule_set,
                topic(Specialist, "OverrideSet"): self._override_set,
                topic(Specialist, "OverrideCleared"): self._override_cleared,
                topic(Service, "Defined"): self._service_defined,
                topic(Service, "Updated"): self._service_updated,
            },
        )

    def specialists(self, limit: int, after: After | None) -> list[dict[str, Any]]:
        """Up to `limit` profiles in (name, id) order, from just after `after`."""
        self.catch_up()
        where, params = ("WHERE (name, id) > (%s, %s)", [*after]) if after else ("", [])
        with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "SELECT id, name, timezone, specialty, bio, weekly, overrides "
                f"FROM specialist_profiles {where} ORDER BY name, id LIMIT %s",
                [*params, limit],
            )
            return cur.fetchall()

    def services_of(self, specialist_id: UUID) -> Sequence[dict[str, Any]] | None:
        """The specialist's services by name; None when there is no such specialist."""
        self.catch_up()
        with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute("SELECT 1 FROM specialist_profiles WHERE id = %s", [specialist_id])
            if cur.fetchone() is None:
                return None
            cur.execute(
                "SELECT * FROM service_definitions WHERE specialist_id = %s "
                "ORDER BY definition->>'name', id",
                [specialist_id],
            )
            return cur.fetchall()

    def forget(self, subjects: list[UUID]) -> None:
        """Overwrite the profiles of erased subjects. Under the projection's lock: a
        catch-up that revealed a name before the key went commits before this runs."""
        with self._locked() as cur:
            cur.execute(
                "UPDATE specialist_profiles SET name = %s, bio = NULL WHERE subject = ANY(%s)",
                (ERASED, subjects),
            )

    # --- event handlers -------------------------------------------------------

    def _registered(self, cur: psycopg.Cursor[Any], e: Any, position: int) -> None:
        revealer = self._personal.revealer()
        cur.execute(
            "INSERT INTO specialist_profiles (id, name, timezone, specialty, bio, subject) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (
                e.originator_id,
                revealer.reveal(e.name),
                e.timezone,
                e.specialty,
                revealer.reveal_optional(e.bio),
                subject_of(e.name),
            ),
        )

    @staticmethod
    def _schedule_set(cur: psycopg.Cursor[Any], e: Any, position: int) -> None:
        cur.execute(
            "UPDATE specialist_profiles SET timezone = %s, weekly = %s WHERE id = %s",
            (e.timezone, as_json(e.weekly), e.originator_id),
        )

    @staticmethod
    def _override_set(cur: psycopg.Cursor[Any], e: Any, position: int) -> None:
        cur.execute(
            "UPDATE specialist_profiles "
            "SET overrides = overrides || jsonb_build_object(%s::text, %s::jsonb) WHERE id = %s",
            (e.day, as_json(e.windows), e.originator_id),
        )

    @staticmethod
    def _override_cleared(cur: psycopg.Cursor[Any], e: Any, position: int) -> None:
        cur.execute(
            "UPDATE specialist_profiles SET overrides = overrides - %s::text WHERE id = %s",
            (e.day, e.originator_id),
        )

    @staticmethod
    def _service_defined(cur: psycopg.Cursor[Any], e: Any, position: int) -> None:
        if e.specialist_id is None:
            return  # a team's service: no one specialist's page lists it
        cur.execute(
            "INSERT INTO service_definitions (id, specialist_id, definition) "
            "VALUES (%s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (e.originator_id, e.specialist_id, as_json(e.terms)),
        )

    @staticmethod
    def _service_updated(cur: psycopg.Cursor[Any], e: Any, position: int) -> None:
        cur.execute(
            "UPDATE service_definitions SET definition = definition || %s WHERE id = %s",
            (as_json(e.changes), e.originator_id),
        )


def encode_cursor(after: After) -> str:
    """The opaque `next_cursor` of a page that ends at `after`."""
    raw = json.dumps([after[0], str(after[1])]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> After:
    """The (name, id) a cursor stands for; ValueError when it is not one of ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        name, specialist_id = json.loads(base64.urlsafe_b64decode(padded))
        if isinstance(name, str) and "\x00" not in name:  # no stored name holds one
            return name, UUID(str(specialist_id))
    except (ValueError, TypeError, binascii.Error):
        pass
    raise ValueError(f"not a cursor this API gave: {cursor!r}")
