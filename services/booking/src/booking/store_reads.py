"""Reads of the event store that the eventsourcing library has no call for.

On PostgreSQL each is one statement; other stores (the in-memory one in tests)
fall back to the library's own, slower calls.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresAggregateRecorder
from psycopg.sql import SQL, Identifier


def load_many(app: Application[UUID], ids: Sequence[UUID]) -> dict[UUID, Any]:
    """The current state of each existing aggregate among `ids` (missing ones are absent).

    A booking is checked against several day ledgers; reading them one query each was
    the largest share of a booking's latency.
    """
    return load_checking(app, ids, {})[0]


def load_checking(
    app: Application[UUID], ids: Sequence[UUID], versions: Mapping[UUID, int]
) -> tuple[dict[UUID, Any], set[UUID]]:
    """`load_many(ids)`, and those of the aggregates in `versions` that have events after
    the version given: in the same statement, so a command that works from cached
    aggregates (a booking's service and specialist) learns whether they are current
    without a round trip of its own."""
    recorder = app.recorder
    if not isinstance(recorder, PostgresAggregateRecorder):
        found: dict[UUID, Any] = {}
        for aggregate_id in ids:
            try:
                found[aggregate_id] = app.repository.get(aggregate_id)
            except AggregateNotFoundError:
                continue
        changed = {
            aggregate_id
            for aggregate_id, version in versions.items()
            if recorder.select_events(aggregate_id, gt=version, limit=1)
        }
        return found, changed
    # The second part's rows have no topic: they only say "this one changed".
    statement = SQL(
        "SELECT originator_id, originator_version, topic, state FROM {table} "
        "WHERE originator_id = ANY(%s) "
        "UNION ALL SELECT DISTINCT originator_id, 0, NULL, NULL::bytea FROM {table} "
        "JOIN unnest(%s::uuid[], %s::bigint[]) AS known(id, version) "
        "ON originator_id = known.id AND originator_version > known.version "
        "ORDER BY 1, 2"
    ).format(table=_table(recorder))
    events: dict[UUID, list[Any]] = defaultdict(list)
    changed = set()
    with recorder.datastore.get_connection() as conn, conn.cursor() as cur:
        cur.execute(statement, [list(ids), list(versions), list(versions.values())], prepare=True)
        for row in cur.fetchall():
            if row["topic"] is None:
                changed.add(row["originator_id"])
                continue
            stored = StoredEvent(
                originator_id=row["originator_id"],
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=bytes(row["state"]),
            )
            events[row["originator_id"]].append(app.mapper.to_domain_event(stored))
    return {aggregate_id: _folded(evs) for aggregate_id, evs in events.items()}, changed


def _folded(events: list[Any]) -> Any:
    """The aggregate these events make: eventsourcing's project_aggregate without its
    isinstance check of every event against a runtime-checkable Protocol (15 µs each, and
    a booking reads all its ledgers' events)."""
    aggregate = None
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


def notification_id_of(app: Application[UUID], originator_id: UUID, version: int) -> int | None:
    """The position in the notification log of one stored event, if it exists."""
    recorder = app.recorder
    if not isinstance(recorder, PostgresAggregateRecorder):
        for notification in recorder.select_notifications(None, 1_000_000):
            if (notification.originator_id, notification.originator_version) == (
                originator_id,
                version,
            ):
                return notification.id
        return None
    statement = SQL(
        "SELECT notification_id FROM {} WHERE originator_id = %s AND originator_version = %s"
    ).format(_table(recorder))
    with recorder.datastore.get_connection() as conn, conn.cursor() as cur:
        cur.execute(statement, [originator_id, version])
        row = cur.fetchone()
    return int(row["notification_id"]) if row else None


def _table(recorder: PostgresAggregateRecorder) -> Identifier:
    schema, _, table = recorder.events_table_name.rpartition(".")
    return Identifier(schema, table) if schema else Identifier(table)
