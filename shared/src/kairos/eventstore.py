"""Environment for the eventsourcing library's PostgreSQL persistence, from a database URL."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar
from urllib.parse import unquote, urlsplit
from uuid import UUID

import psycopg

T = TypeVar("T")


def postgres_env(database_url: str, **overrides: str) -> dict[str, str]:
    """eventsourcing's POSTGRES_* settings for `database_url` (postgresql://user:pw@host:port/db).

    A unix-socket URL (`?host=/path`) works too. Inserts go through a database function
    that locks the table (kairos.ordered_recorder): notification ids follow commit order,
    so the relay never reads past an event that commits late, and a save is one
    statement.
    """
    url = urlsplit(database_url)
    if url.scheme not in ("postgres", "postgresql"):
        raise ValueError(f"not a PostgreSQL URL: {url.scheme}://…")
    query = dict(p.split("=", 1) for p in url.query.split("&") if "=" in p)
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": unquote(url.path.lstrip("/")) or "postgres",
        "POSTGRES_HOST": unquote(query.get("host", url.hostname or "127.0.0.1")),
        "POSTGRES_PORT": str(url.port or query.get("port", 5432)),
        "POSTGRES_USER": unquote(url.username or query.get("user", "postgres")),
        "POSTGRES_PASSWORD": unquote(url.password or query.get("password", "")),
        "POSTGRES_ENABLE_DB_FUNCTIONS": "y",
        "APPLICATION_RECORDER_TOPIC": "kairos.ordered_recorder:OrderedInsertRecorder",
        "CREATE_TABLE": "y",
    }
    env.update(overrides)
    return env


def array_literal(values: Iterable[UUID | str | int]) -> str:
    """A PostgreSQL array literal of ids or versions (cast it: `%s::uuid[]`). psycopg sends
    a string as it is, where a list costs it a look at every element to choose how to
    send it: on the hot path of a booking, more than building the text."""
    return "{" + ",".join(map(str, values)) + "}"


_SCHEMA_LOCK = 0x4B41_4952_4F53  # "KAIROS": serialises schema creation across processes


def open_application(
    factory: Callable[[dict[str, str]], T], database_url: str, **overrides: str
) -> T:
    """Construct an eventsourcing Application on PostgreSQL.

    Its constructor creates tables and functions; two processes doing that at once
    (uvicorn workers starting together) fail with "tuple concurrently updated", so
    construction holds an advisory lock.
    """
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_SCHEMA_LOCK,))
        try:
            return factory(postgres_env(database_url, **overrides))
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_SCHEMA_LOCK,))
