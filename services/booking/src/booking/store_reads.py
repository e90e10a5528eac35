"""Reads of the event store that the eventsourcing library has no call for, and, with a
booking request's read of its ledgers, the external busy time it weighs against them.

On PostgreSQL each is one statement; other stores (the in-memory one in tests)
fall back to the library's own, slower calls.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresAggregateRecorder
from psycopg.sql import SQL, Identifier

from booking.external_busy import OVERLAPPING
from kairos.eventstore import array_literal
from kairos.ordered_recorder import OrderedInsertRecorder
from kairos.slots import Interval


class BusyWindow(NamedTuple):
    """A specialist's external busy time over [start, end), for read_since to read too."""

    specialist_id: UUID
    start: datetime
    end: datetime


class StoreRead(NamedTuple):
    """What read_since read: each aggregate's events after the version asked for, those
    of the checked aggregates that have changed, and the external busy time asked for
    (None if not asked, or on a store that doesn't hold it: read it elsewhere)."""

    events: dict[UUID, list[Any]]
    changed: set[UUID]
    busy: list[Interval] | None


def load_many(app: Application[UUID], ids: Sequence[UUID]) -> dict[UUID, Any]:
    """The current state of each existing aggregate among `ids` (missing ones are absent).

    A booking is checked against several day ledgers; reading them one query each was
    the largest share of a booking's latency.
    """
    events = read_since(app, dict.fromkeys(ids, 0)).events
    return {aggregate_id: folded(None, evs) for aggregate_id, evs in events.items()}


def read_since(
    app: Application[UUID],
    after: Mapping[UUID, int],
    versions: Mapping[UUID, int] = MappingProxyType({}),
    busy: BusyWindow | None = None,
) -> StoreRead:
    """The events of the aggregates in `after` past the version given (0: all of them);
    which of the aggregates in `versions` have events past the version given; and, if
    asked, a specialist's external busy time: in one statement, so a command that works
    from cached aggregates (a booking's service, specialist and ledgers) learns what
    changed, and all else it weighs, in one round trip."""
    recorder = app.recorder
    if not isinstance(recorder, OrderedInsertRecorder):
        selected = {
            aggregate_id: [
                app.mapper.to_domain_event(stored)
                for stored in recorder.select_events(aggregate_id, gt=version or None)
            ]
            for aggregate_id, version in after.items()
        }
        changed = {
            aggregate_id
            for aggregate_id, version in versions.items()
            if recorder.select_events(aggregate_id, gt=version, limit=1)
        }
        return StoreRead({i: evs for i, evs in selected.items() if evs}, changed, None)
    params: list[Any] = [
        array_literal(after),
        array_literal(after.values()),
        array_literal(versions),
        array_literal(versions.values()),
    ]
    if busy is not None:
        params += [busy.specialist_id, busy.end, busy.start]
    statement = _read_since_statement(recorder.events_table_name, with_busy=busy is not None)
    events: dict[UUID, list[Any]] = defaultdict(list)
    changed = set()
    intervals: list[Interval] = []
    with recorder.connection() as conn, conn.cursor() as cur:
        cur.execute(statement, params, prepare=True)
        for row in cur.fetchall():
            if row["originator_version"] == -1:
                intervals.append(Interval(row["busy_from"], row["busy_until"]))
            elif row["topic"] is None:
                changed.add(row["originator_id"])
            else:
                stored = StoredEvent(
                    originator_id=row["originator_id"],
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                )
                events[row["originator_id"]].append(app.mapper.to_domain_event(stored))
    return StoreRead(dict(events), changed, intervals if busy is not None else None)


@functools.cache
def _read_since_statement(table_name: str, with_busy: bool) -> bytes:
    """read_since's statement, composed once. Rows of the second part have no topic: they
    only say "this one changed"; rows of the third, version -1, are busy intervals.

    Each aggregate is looked up by its own index scan (LATERAL, kept apart by OFFSET 0 /
    LIMIT 1): a prepared statement's generic plan can't see how few ids the arrays hold,
    and joined to them it chose to hash the whole table (4.7 ms instead of 0.1 ms on
    20,000 events, and growing with the store). So the generic plan, which the store's
    connections keep (OrderedInsertRecorder.connection), is the right one."""
    parts = [
        "SELECT e.originator_id, e.originator_version, e.topic, e.state,"
        " NULL::timestamptz AS busy_from, NULL::timestamptz AS busy_until"
        " FROM unnest(%s::uuid[], %s::bigint[]) AS wanted(id, after)"
        " CROSS JOIN LATERAL (SELECT originator_id, originator_version, topic, state"
        " FROM {table} WHERE originator_id = wanted.id AND originator_version > wanted.after"
        " OFFSET 0) AS e",
        "SELECT known.id, 0, NULL::text, NULL::bytea, NULL::timestamptz, NULL::timestamptz"
        " FROM unnest(%s::uuid[], %s::bigint[]) AS known(id, version)"
        " CROSS JOIN LATERAL (SELECT 1 FROM {table} WHERE originator_id = known.id"
        " AND originator_version > known.version LIMIT 1) AS newer",
    ]
    if with_busy:
        parts.append(
            f"SELECT NULL::uuid, -1, NULL::text, NULL::bytea, busy_from, busy_until"
            f" FROM ({OVERLAPPING}) AS busy"
        )
    statement = SQL(" UNION ALL ".join(parts) + " ORDER BY 1, 2")
    return statement.format(table=_table(table_name)).as_bytes(None)


def folded(aggregate: Any, events: list[Any]) -> Any:
    """`aggregate` (None for a new one) with `events` applied: eventsourcing's
    project_aggregate without its isinstance check of every event against a
    runtime-checkable Protocol (15 µs each, and a booking reads all its ledgers' events)."""
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
    ).format(_table(recorder.events_table_name))
    with recorder.datastore.get_connection() as conn, conn.cursor() as cur:
        cur.execute(statement, [originator_id, version])
        row = cur.fetchone()
    return int(row["notification_id"]) if row else None


def _table(name: str) -> Identifier:
    schema, _, table = name.rpartition(".")
    return Identifier(schema, table) if schema else Identifier(table)
