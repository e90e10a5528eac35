"""Consumer positions in PostgreSQL: which events a consumer has already applied.

A consumer applies an event and records its position in the same database
transaction (ARCHITECTURE.md rule 3). The position is the highest notification
id applied per (consumer, producer, partition): the relay publishes each
partition's events in log order, so an event at or below it is a redelivery.
"""

from __future__ import annotations

from typing import Any

import psycopg

from kairos.ddl import create_if_missing
from kairos.events import Envelope

TABLE = "consumer_positions"

_DDL = """
CREATE TABLE IF NOT EXISTS consumer_positions (
    consumer text NOT NULL,
    producer text NOT NULL,
    partition integer NOT NULL,
    notification_id bigint NOT NULL,
    PRIMARY KEY (consumer, producer, partition)
)
"""
_DDL_LOCK = 0x6B6169726F730001


class AlreadyApplied(Exception):
    """Another transaction recorded this event (or a later one) first: roll back."""


def create_positions_table(conn: psycopg.Connection[Any]) -> None:
    create_if_missing(conn, _DDL_LOCK, _DDL)


def applied_position(
    conn: psycopg.Connection[Any],
    consumer: str,
    producer: str,
    partition: int,
    *,
    lock: bool = False,
) -> int:
    """The highest notification id applied, 0 if none; `lock` holds the row until commit."""
    query = (
        "SELECT notification_id FROM consumer_positions"
        " WHERE consumer = %s AND producer = %s AND partition = %s"
    )
    row = conn.execute(
        query + (" FOR UPDATE" if lock else ""), (consumer, producer, partition)
    ).fetchone()
    return int(row[0]) if row else 0


def already_applied(
    conn: psycopg.Connection[Any], consumer: str, envelope: Envelope, partition: int
) -> bool:
    """True if `envelope` is a redelivery. Call it inside the applying transaction:
    it locks the position row, so a concurrent duplicate waits and then sees it."""
    stored = applied_position(conn, consumer, envelope.producer, partition, lock=True)
    return envelope.notification_id <= stored


def record(
    conn: psycopg.Connection[Any], consumer: str, envelope: Envelope, partition: int
) -> None:
    """Record `envelope` as applied, in the caller's transaction.

    Raises AlreadyApplied if an equal or later position is already recorded, so
    the transaction that applied a duplicate rolls back instead of committing.
    """
    row = conn.execute(
        "INSERT INTO consumer_positions AS p (consumer, producer, partition, notification_id)"
        " VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (consumer, producer, partition) DO UPDATE"
        " SET notification_id = EXCLUDED.notification_id"
        " WHERE p.notification_id < EXCLUDED.notification_id"
        " RETURNING 1",
        (consumer, envelope.producer, partition, envelope.notification_id),
    ).fetchone()
    if row is None:
        raise AlreadyApplied(
            f"{consumer} already applied {envelope.producer} notification "
            f"{envelope.notification_id} or later on partition {partition}"
        )
