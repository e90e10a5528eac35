"""Rebuild the availability read model from the booking event store, then swap it in.

1. Fold every published event into memory with the same projections the live
   consumer applies (the same row changes, the same newest-change-wins rule),
   then COPY the result into fresh tables (`*_rebuild`).
2. In one transaction: lock the live consumer's positions, one row per partition
   (it pauses on every partition, even one it never applied an event to), apply the
   events stored since step 1 began, rename the fresh tables into place, set the
   consumer's positions to what the rebuild applied, and NOTIFY a reset, so query
   processes drop their caches. The consumer then resumes where the rebuild
   stopped; redeliveries of what the rebuild applied are skipped.
3. Drop the retired tables.

Queries keep being answered from the live tables (and caches) throughout; only
the renames take a moment's exclusive lock. Kafka is not read: it may have lost
data, the event store has not.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from availability.external_busy import CALENDAR_SOURCE
from availability.external_busy import CONSUMER as CALENDAR_CONSUMER
from availability.projections import project
from availability.tables import (
    BUSY,
    CHANGED_CHANNEL,
    RESET,
    TABLES,
    Change,
    Table,
    Upsert,
    create_tables,
    write,
)
from kairos.messaging import TOPIC_PARTITIONS, specialist_partition
from kairos.messaging.notification_log import LoggedEvent, NotificationLog
from kairos.messaging.positions import TABLE as POSITIONS_TABLE
from kairos.messaging.positions import create_positions_table

FRESH = "_rebuild"
RETIRED = "_retired"
_REBUILD_LOCK = 0x6B6169726F730011


class RebuildRunning(RuntimeError):
    """Another rebuild of the same read model holds the lock."""


@dataclass(frozen=True)
class RebuildReport:
    events: int  # published events applied (the log's internal events are not read)
    top: int  # the last notification id the rebuilt model includes
    seconds: float

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


class Fold:
    """Row changes applied in memory, by the rule `tables.write` applies them in SQL."""

    def __init__(self) -> None:
        self.rows: dict[Table, dict[tuple[Any, ...], list[Any]]] = {t: {} for t in TABLES}
        self.positions: dict[int, int] = {}
        self.events = 0
        self._partition_of: dict[UUID, int] = {}  # murmur2 in pure Python is dear

    def apply(self, events: Iterable[LoggedEvent], partitions: int = TOPIC_PARTITIONS) -> None:
        rows, positions, partition_of = self.rows, self.positions, self._partition_of
        for event in events:
            self.events += 1
            for change in project(event, event.payload):
                table_rows = rows[change.table]
                row = table_rows.get(change.key)
                if isinstance(change, Upsert):
                    if row is None or row[1] < change.nid:
                        table_rows[change.key] = [dict(change.values), change.nid]
                elif row is not None and row[1] < change.nid:
                    row[0].update(change.values)
                    row[1] = change.nid
            partition = partition_of.get(event.specialist_id)
            if partition is None:
                partition = partition_of[event.specialist_id] = specialist_partition(
                    event.specialist_id, partitions
                )
            if event.notification_id > positions.get(partition, 0):
                positions[partition] = event.notification_id

    def copy_into(self, conn: psycopg.Connection[Any], suffix: str) -> None:
        for table, table_rows in self.rows.items():
            statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
                sql.Identifier(table.named(suffix)),
                sql.SQL(", ").join(map(sql.Identifier, table.all_columns)),
            )
            with conn.cursor().copy(statement) as copy:
                for key, (values, nid) in table_rows.items():
                    copy.write_row(table.row(key, values, nid))


def rebuild(
    log: NotificationLog,
    database_url: str,
    *,
    consumer: str,
    producer: str,
    progress: Callable[[int, int], None] = lambda done, top: None,
    page_size: int = 5000,
    partitions: int = TOPIC_PARTITIONS,
) -> RebuildReport:
    """Rebuild the read model in `database_url` from `log`; see the module docstring.

    `consumer`/`producer` name the live consumer's positions to hand over, one per
    partition of `partitions` (KAFKA_PARTITIONS: the live consumer's count).
    `progress(notification_id, top)` is called after every page.
    """
    started = time.perf_counter()
    with psycopg.connect(database_url, autocommit=True) as conn:
        if not conn.execute("SELECT pg_try_advisory_lock(%s)", (_REBUILD_LOCK,)).fetchone()[0]:  # type: ignore[index]
            raise RebuildRunning("another rebuild of the availability read model is running")
        create_positions_table(conn)
        create_tables(conn)
        _drop(conn, FRESH)
        _drop(conn, RETIRED)
        top = log.top()
        fold = Fold()
        try:
            for page in log.pages(0, top, page_size):
                fold.apply(page, partitions)
                # The folded rows only grow and hold no cycles; left in the collector's
                # generations they made full collections half of a replay's time.
                gc.freeze()
                if page:
                    progress(page[-1].notification_id, top)
        finally:
            gc.unfreeze()
        progress(top, top)
        with conn.transaction():
            create_tables(conn, FRESH)
            fold.copy_into(conn, FRESH)
        _position_rows(conn, consumer, producer, partitions)
        caught_up = _swap(conn, log, fold, top, consumer, producer, partitions)
        _drop(conn, RETIRED)
    return RebuildReport(fold.events + caught_up, top, time.perf_counter() - started)


def _position_rows(
    conn: psycopg.Connection[Any], consumer: str, producer: str, partitions: int
) -> None:
    """Give the live consumer a position row on every partition (0: nothing applied yet),
    committed before the swap locks them. The consumer's first step on an event is to lock
    its partition's row; with no row there is nothing to wait for, so on a partition it had
    never applied an event to it would write into the tables being retired, and the swap
    would then hand over a position covering that event: the change would be lost."""
    with conn.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {POSITIONS_TABLE} (consumer, producer, partition, notification_id)"
            " VALUES (%s, %s, %s, 0) ON CONFLICT DO NOTHING",
            [(consumer, producer, p) for p in range(partitions)],
        )


def _swap(
    conn: psycopg.Connection[Any],
    log: NotificationLog,
    fold: Fold,
    top: int,
    consumer: str,
    producer: str,
    partitions: int,
) -> int:
    """Catch the fresh tables up and put them in place, atomically; returns events caught up."""
    positions = dict(fold.positions)
    caught_up = 0
    with conn.transaction():
        # The live consumer locks its position row before it applies an event: holding
        # them all pauses it, so nothing it applies can fall between catch-up and swap.
        conn.execute(
            f"SELECT 1 FROM {POSITIONS_TABLE} WHERE consumer = %s AND producer = %s FOR UPDATE",
            (consumer, producer),
        )
        for page in log.pages(top):
            for event in page:
                changes: list[Change] = project(event, event.payload)
                write(conn, changes, FRESH)
                partition = specialist_partition(event.specialist_id, partitions)
                positions[partition] = max(positions.get(partition, 0), event.notification_id)
            caught_up += len(page)
        _keep_calendar_busy(conn)
        for table in TABLES:
            _rename(conn, table, "", RETIRED)
            _rename(conn, table, FRESH, "")
        with conn.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {POSITIONS_TABLE} AS p"
                " (consumer, producer, partition, notification_id) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (consumer, producer, partition) DO UPDATE"
                " SET notification_id = GREATEST(p.notification_id, EXCLUDED.notification_id)",
                [(consumer, producer, p, n) for p, n in sorted(positions.items())],
            )
        conn.execute("SELECT pg_notify(%s, %s)", (CHANGED_CHANNEL, RESET))
    return caught_up


def _keep_calendar_busy(conn: psycopg.Connection[Any]) -> None:
    """External calendar busy time comes from calendar.events.v1, not the booking log the
    rebuild reads: its rows move into the fresh tables as they are, with its consumer
    paused (its position rows locked) so that none of its writes falls in between."""
    conn.execute(
        f"SELECT 1 FROM {POSITIONS_TABLE} WHERE consumer = %s FOR UPDATE",
        (CALENDAR_CONSUMER,),
    )
    columns = sql.SQL(", ").join(map(sql.Identifier, BUSY.all_columns))
    conn.execute(
        sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} WHERE source = %s").format(
            sql.Identifier(BUSY.named(FRESH)), columns, columns, sql.Identifier(BUSY.name)
        ),
        (CALENDAR_SOURCE,),
    )


def _rename(conn: psycopg.Connection[Any], table: Table, old: str, new: str) -> None:
    conn.execute(
        sql.SQL("ALTER TABLE {} RENAME TO {}").format(
            sql.Identifier(table.named(old)), sql.Identifier(table.named(new))
        )
    )
    for before, after in zip(table.index_names(old), table.index_names(new), strict=True):
        conn.execute(
            sql.SQL("ALTER INDEX {} RENAME TO {}").format(
                sql.Identifier(before), sql.Identifier(after)
            )
        )


def _drop(conn: psycopg.Connection[Any], suffix: str) -> None:
    for table in TABLES:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table.named(suffix))))
