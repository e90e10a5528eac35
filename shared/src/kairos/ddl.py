"""Creating tables from several processes at once."""

from __future__ import annotations

from typing import Any

import psycopg


def create_if_missing(conn: psycopg.Connection[Any], lock_key: int, ddl: str) -> None:
    """Run `ddl` (CREATE ... IF NOT EXISTS statements) in one transaction under an
    advisory lock: concurrent CREATE TABLE IF NOT EXISTS can still collide in the
    catalog when several processes start at once."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key,))
        conn.execute(ddl)
