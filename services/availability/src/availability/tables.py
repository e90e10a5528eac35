"""The availability read model's tables, and how row changes are written to them.

Every row keeps `last_nid`, the notification id of the last event that changed
it; a change only lands on a row it is newer than (see projections.py). A
rebuild creates the same tables under another name and swaps them in, so every
statement takes the table's actual name from `Table.named`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeAlias

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

#: NOTIFY channel: "<specialist id> <notification id>" after each applied event,
#: "*" after a rebuild swapped the tables.
CHANGED_CHANNEL = "availability_changed"
RESET = "*"
_DDL_LOCK = 0x6B6169726F730010


@dataclass(frozen=True)
class Table:
    name: str
    key: tuple[str, ...]
    columns: tuple[str, ...]  # besides the key and last_nid
    json_columns: frozenset[str]
    ddl: str  # column definitions, with {name} for the table's name
    indexes: tuple[str, ...] = ()  # column lists, e.g. "(specialist_id)"

    def named(self, suffix: str) -> str:
        return self.name + suffix

    @property
    def all_columns(self) -> tuple[str, ...]:
        return (*self.key, *self.columns, "last_nid")

    def row(self, key: Sequence[Any], values: dict[str, Any], nid: int) -> tuple[Any, ...]:
        """A full row in `all_columns` order, JSON columns wrapped for psycopg."""
        return (*key, *(self.cell(c, values[c]) for c in self.columns), nid)

    def cell(self, column: str, value: Any) -> Any:
        return Jsonb(value) if column in self.json_columns else value

    def index_names(self, suffix: str) -> list[str]:
        """The names `create_tables` gives this table's indexes, primary key first."""
        name = self.named(suffix)
        return [f"{name}_pkey", *(f"{name}_idx{n}" for n in range(len(self.indexes)))]


@dataclass(frozen=True, slots=True)
class _RowChange:
    table: Table
    key: tuple[Any, ...]
    values: dict[str, Any]
    nid: int  # the notification id of the event that makes the change


class Upsert(_RowChange):
    """Insert the row, or replace it if this event is newer than its last change."""

    __slots__ = ()


class Patch(_RowChange):
    """Set some columns of an existing row if this event is newer than its last change."""

    __slots__ = ()


Change: TypeAlias = Upsert | Patch


SPECIALISTS = Table(
    "availability_specialists",
    key=("specialist_id",),
    columns=("name", "timezone", "weekly"),
    json_columns=frozenset({"weekly"}),
    ddl="specialist_id uuid PRIMARY KEY, name text NOT NULL, timezone text NOT NULL,"
    " weekly jsonb NOT NULL, last_nid bigint NOT NULL",
)
OVERRIDES = Table(
    "availability_overrides",
    key=("specialist_id", "day"),
    columns=("windows", "cleared"),
    json_columns=frozenset({"windows"}),
    ddl="specialist_id uuid NOT NULL, day date NOT NULL, windows jsonb NOT NULL,"
    " cleared boolean NOT NULL, last_nid bigint NOT NULL, PRIMARY KEY (specialist_id, day)",
)
SERVICES = Table(
    "availability_services",
    key=("service_id",),
    columns=("specialist_id", "name", "rules"),
    json_columns=frozenset({"rules"}),
    ddl="service_id uuid PRIMARY KEY, specialist_id uuid NOT NULL, name text NOT NULL,"
    " rules jsonb NOT NULL, last_nid bigint NOT NULL",
    indexes=("(specialist_id)",),
)
BOOKING_SOURCE = "booking"  # the `source` of bookings' busy rows
# Busy time of every kind under its `source`: bookings (pending ones included), and
# external calendar busy time (source "calendar", unpadded, `origin_id` = the calendar
# connection, no service; availability.external_busy).
BUSY = Table(
    "availability_busy",
    key=("source", "source_id"),
    columns=(
        "specialist_id",
        "service_id",
        "starts_at",
        "busy_from",
        "busy_until",
        "status",
        "active",
        "origin_id",
    ),
    json_columns=frozenset(),
    ddl="source text NOT NULL, source_id uuid NOT NULL, specialist_id uuid NOT NULL,"
    " service_id uuid, starts_at timestamptz, busy_from timestamptz NOT NULL,"
    " busy_until timestamptz NOT NULL, status text NOT NULL, active boolean NOT NULL,"
    " origin_id uuid, last_nid bigint NOT NULL, PRIMARY KEY (source, source_id)",
    indexes=("(specialist_id, busy_until) WHERE active", "(origin_id) WHERE origin_id IS NOT NULL"),
)
# A collective booking holds the time of every member of its team: its busy row names the
# first (the envelope's specialist), and here each other member's claim on that row.
CO_BUSY = Table(
    "availability_co_busy",
    key=("source_id", "specialist_id"),
    columns=(),
    json_columns=frozenset(),
    ddl="source_id uuid NOT NULL, specialist_id uuid NOT NULL, last_nid bigint NOT NULL,"
    " PRIMARY KEY (source_id, specialist_id)",
    indexes=("(specialist_id)",),
)
TEAMS = Table(
    "availability_teams",
    key=("team_id",),
    columns=("members",),
    json_columns=frozenset({"members"}),
    ddl="team_id uuid PRIMARY KEY, members jsonb NOT NULL, last_nid bigint NOT NULL",
)
# A team's service: its row in SERVICES has the nil specialist, its team is here.
TEAM_SERVICES = Table(
    "availability_team_services",
    key=("service_id",),
    columns=("team_id", "assignment"),
    json_columns=frozenset(),
    ddl="service_id uuid PRIMARY KEY, team_id uuid NOT NULL, assignment text NOT NULL,"
    " last_nid bigint NOT NULL",
)
TABLES: tuple[Table, ...] = (SPECIALISTS, OVERRIDES, SERVICES, BUSY, CO_BUSY, TEAMS, TEAM_SERVICES)

# The projector's progress, for the query processes' /readyz and staleness (not rebuilt:
# it describes the consumer, not the events). `current_as_of`: the read model holds
# every booking event committed before it (see kairos.messaging.heartbeat).
STATUS_TABLE = "availability_projection_status"
_STATUS_DDL = (
    f"""
    CREATE TABLE IF NOT EXISTS {STATUS_TABLE} (
        consumer text PRIMARY KEY,
        caught_up_at timestamptz,
        lag_events bigint,
        lag_seconds double precision,
        updated_at timestamptz NOT NULL,
        current_as_of timestamptz
    )
    """,
    # Tables made before staleness was measured.
    f"ALTER TABLE {STATUS_TABLE} ADD COLUMN IF NOT EXISTS current_as_of timestamptz",
    f"ALTER TABLE {STATUS_TABLE} ALTER COLUMN lag_seconds DROP NOT NULL",
)


@dataclass(frozen=True)
class ProjectionStatus:
    caught_up_at: datetime | None  # the first time the projector read to the end
    lag_events: int | None  # None: unknown
    current_as_of: datetime | None  # None: never known current


def create_tables(conn: psycopg.Connection[Any], suffix: str = "") -> None:
    """Create the tables (named with `suffix`) if missing; safe from several processes."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK,))
        for statement in _STATUS_DDL:
            conn.execute(statement)
        for table in TABLES:
            name = sql.Identifier(table.named(suffix))
            conn.execute(
                sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(name, sql.SQL(table.ddl))
            )
            if table is BUSY:  # made before calendar busy time had an origin
                conn.execute(
                    sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS origin_id uuid").format(name)
                )
            for index, columns in zip(table.index_names(suffix)[1:], table.indexes, strict=True):
                conn.execute(
                    sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} " + columns).format(
                        sql.Identifier(index), name
                    )
                )


def write(conn: psycopg.Connection[Any], changes: Iterable[Change], suffix: str = "") -> None:
    """Apply row changes in the caller's transaction."""
    for change in changes:
        table = change.table
        if isinstance(change, Upsert):
            row = table.row(change.key, change.values, change.nid)
            conn.execute(_upsert(table, suffix), row)
        else:
            columns = tuple(change.values)
            values = [table.cell(c, change.values[c]) for c in columns]
            conn.execute(
                _patch(table, columns, suffix), [*values, change.nid, *change.key, change.nid]
            )


def notify_changed(conn: psycopg.Connection[Any], specialist_id: Any, nid: int) -> None:
    """Tell query processes (after this transaction commits) that a specialist changed."""
    conn.execute("SELECT pg_notify(%s, %s)", (CHANGED_CHANNEL, f"{specialist_id} {nid}"))


def record_status(
    conn: psycopg.Connection[Any],
    consumer: str,
    caught_up: bool,
    lag_events: int | None,
    lag_seconds: float | None,
    current_as_of: float | None,
) -> None:
    """The projector's lag and how current it is (`current_as_of`, Unix seconds);
    `caught_up_at` is set the first time it has caught up."""
    conn.execute(
        f"INSERT INTO {STATUS_TABLE} AS s"
        " (consumer, caught_up_at, lag_events, lag_seconds, updated_at, current_as_of)"
        " VALUES (%s, CASE WHEN %s THEN now() END, %s, %s, now(), to_timestamp(%s))"
        " ON CONFLICT (consumer) DO UPDATE SET"
        " caught_up_at = COALESCE(s.caught_up_at, EXCLUDED.caught_up_at),"
        " lag_events = EXCLUDED.lag_events, lag_seconds = EXCLUDED.lag_seconds,"
        " updated_at = EXCLUDED.updated_at, current_as_of = EXCLUDED.current_as_of",
        (consumer, caught_up, lag_events, lag_seconds, current_as_of),
    )


def projection_status(conn: psycopg.Connection[Any], consumer: str) -> ProjectionStatus | None:
    """What `consumer` last recorded, None if it never did."""
    row = conn.execute(
        f"SELECT caught_up_at, lag_events, current_as_of FROM {STATUS_TABLE} WHERE consumer = %s",
        (consumer,),
    ).fetchone()
    return None if row is None else ProjectionStatus(row[0], row[1], row[2])


@lru_cache(maxsize=64)
def _upsert(table: Table, suffix: str) -> sql.Composed:
    name = sql.Identifier(table.named(suffix))
    columns = table.all_columns
    updates = [c for c in columns if c not in table.key]
    return sql.SQL(
        "INSERT INTO {name} AS t ({columns}) VALUES ({values})"
        " ON CONFLICT ({key}) DO UPDATE SET {updates} WHERE t.last_nid < EXCLUDED.last_nid"
    ).format(
        name=name,
        columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
        values=sql.SQL(", ").join(sql.Placeholder() * len(columns)),
        key=sql.SQL(", ").join(map(sql.Identifier, table.key)),
        updates=sql.SQL(", ").join(
            sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in updates
        ),
    )


@lru_cache(maxsize=256)
def _patch(table: Table, columns: tuple[str, ...], suffix: str) -> sql.Composed:
    return sql.SQL("UPDATE {name} SET {sets}, last_nid = %s WHERE {key} AND last_nid < %s").format(
        name=sql.Identifier(table.named(suffix)),
        sets=sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in columns),
        key=sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in table.key),
    )
