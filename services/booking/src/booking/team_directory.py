"""The public catalog's teams as query tables: each team's name, members and services.

A projection (see booking.projection) beside booking.directory: what a client needs to
find a team and open its booking page, in one indexed query per page. Rows hold no
weights or priorities (the admin's, GET /v1/teams/{id}) and no member names: those are
read from the directory's profiles, so erasing a specialist erases them here too.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.application import Application
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from booking.directory import After, Directory
from booking.domain import Service, Team
from booking.projection import Projection, as_json, topic

SCHEMA = """
CREATE TABLE IF NOT EXISTS team_listings (
    id uuid PRIMARY KEY, name text NOT NULL, members jsonb NOT NULL);
CREATE INDEX IF NOT EXISTS team_listings_by_name ON team_listings (name, id);
CREATE TABLE IF NOT EXISTS team_services (
    id uuid PRIMARY KEY, team_id uuid, assignment text, definition jsonb NOT NULL);
CREATE INDEX IF NOT EXISTS team_services_by_team ON team_services (team_id);
"""

# One row per team: its members in the team's order with their public profile, and its
# services by name, each as the public service view reads it.
_LISTING = """
SELECT t.id, t.name,
  COALESCE((
    SELECT jsonb_agg(jsonb_build_object(
             'specialist_id', p.id, 'name', p.name, 'specialty', p.specialty)
           ORDER BY m.ordinal)
    FROM jsonb_array_elements_text(t.members) WITH ORDINALITY AS m(id, ordinal)
    JOIN specialist_profiles p ON p.id = m.id::uuid), '[]') AS members,
  COALESCE((
    SELECT jsonb_agg(s.definition || jsonb_build_object(
             'id', s.id, 'team_id', s.team_id, 'assignment', s.assignment)
           ORDER BY s.definition->>'name', s.id)
    FROM team_services s WHERE s.team_id = t.id), '[]') AS services
FROM team_listings t
"""


class TeamDirectory(Projection):
    def __init__(self, app: Application[UUID], pool: ConnectionPool, directory: Directory) -> None:
        self._directory = directory
        super().__init__(
            app,
            pool,
            "team_directory",
            2,
            SCHEMA,
            {
                topic(Team, "Formed"): self._formed,
                topic(Team, "Changed"): self._formed,
                topic(Service, "Defined"): self._service_defined,
                topic(Service, "OfferedByTeam"): self._offered_by_team,
                topic(Service, "Updated"): self._service_updated,
            },
        )

    def teams(self, limit: int, after: After | None) -> list[dict[str, Any]]:
        """Up to `limit` teams in (name, id) order, from just after `after`."""
        where, params = ("WHERE (t.name, t.id) > (%s, %s)", [*after]) if after else ("", [])
        return self._select(f"{_LISTING} {where} ORDER BY t.name, t.id LIMIT %s", [*params, limit])

    def team(self, team_id: UUID) -> dict[str, Any] | None:
        rows = self._select(f"{_LISTING} WHERE t.id = %s", [team_id])
        return rows[0] if rows else None

    def _select(self, query: str, params: list[Any]) -> list[dict[str, Any]]:
        self._directory.catch_up()  # the members' names
        self.catch_up()
        with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query, params)
            return cur.fetchall()

    # --- event handlers -------------------------------------------------------

    @staticmethod
    def _formed(cur: psycopg.Cursor[Any], e: Any, position: int) -> None:
        members = [str(m["specialist_id"]) for m in e.members]
        cur.execute(
            "INSERT INTO team_listings (id, name, members) VALUES (%s, %s, %s) "
            "ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, members = EXCLUDED.members",
            (e.originator_id, e.name, as_json(members)),
        )

    @staticmethod
    def _service_defined(cur: psycopg.Cursor[Any], e: Any, position: int) -> None:
        if e.specialist_id is not None:
            return  # a specialist's own: booking.directory lists it
        cur.execute(
            "INSERT INTO team_services (id, definition) VALUES (%s, %s) "
            "ON CONFLICT (id) DO NOTHING",
            (e.originator_id, as_json(e.terms)),
        )

    @staticmethod
    def _offered_by_team(cur: psycopg.Cursor[Any], e: Any, position: int) -> None:
        cur.execute(
            "UPDATE team_services SET team_id = %s, assignment = %s WHERE id = %s",
            (e.team_id, e.assignment, e.originator_id),
        )

    @staticmethod
    def _service_updated(cur: psycopg.Cursor[Any], e: Any, position: int) -> None:
        cur.execute(
            "UPDATE team_services SET definition = definition || %s WHERE id = %s",
            (as_json(e.changes), e.originator_id),
        )
